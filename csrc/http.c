/* HTTP transport on libcurl: one reused easy handle per client (keep-alive).
 * libcurl's callbacks only write into this file's C buffers; they never touch the Lua
 * state, so no Lua error can unwind through libcurl's frames. Everything that can fail
 * is remembered and reported after curl_easy_perform has returned. */
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "lcm.h"

#define LCM_HTTP_MT "lcm.http"
#define KEEP_BUFFER (256 * 1024) /* larger answers' buffers are freed after use */
#define MAX_RETRY_AFTER 86400L   /* seconds: a server's Retry-After is clamped to a day */
/* The ranges of the numeric options; the Lua layer checks them first (README, "Options"). */
#define MAX_TIMEOUT_MS 86400000
#define MAX_RESPONSE_BYTES 1073741824

typedef struct {
    CURL *curl;
    struct curl_slist *headers; /* the client's fixed headers, built once */
    char *buf;
    size_t len, cap, max;
    int too_large, oom;
    long retry_after; /* seconds from the answer's Retry-After, -1 when it had none */
    char *url;        /* the URL libcurl was last given */
    char errbuf[CURL_ERROR_SIZE];
} http_t;

/* Process-wide state, set up once (pthread_once) and kept for the life of the process:
 * libcurl's global init, and one share handle through which every client in every Lua
 * state and thread shares connections, DNS answers and TLS sessions. FreeSWITCH gives each
 * call a fresh Lua state: without this, every call would pay a new TCP and TLS handshake. */
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status = CURLE_FAILED_INIT;
static CURLSH *global_share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    (void)ud;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    (void)ud;
    pthread_mutex_unlock(&share_locks[data]);
}

/* curl_global_init is not thread-safe before 7.84, and hosts may load the module in several
 * threads at once. It is reference counted, so a host's own call before ours is fine. */
static void global_init(void)
{
    int i;
    global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (global_status != CURLE_OK)
        return;
    /* The share handle keeps pointers to this module's lock functions: the module must
     * stay mapped when the Lua state that loaded it closes and dlcloses it (a later state
     * then finds it, and the warm cache, still there). */
    lcm_pin((const void *)(size_t)share_lock);
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    global_share = curl_share_init();
    if (global_share != NULL &&
        (curl_share_setopt(global_share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
         curl_share_setopt(global_share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
         curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT) != CURLSHE_OK ||
         curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
         curl_share_setopt(global_share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)) {
        curl_share_cleanup(global_share);
        global_share = NULL; /* clients then work alone, as with share = false */
    }
}

/* Every CURLE_* code of the libcurl the module is built against, with lcm's decision for it:
 * csrc/curl_codes.txt, turned into curl_codes.h by tools/curl_codes.lua at build time. */
#include "curl_codes.h"

static const struct curl_code {
    CURLcode code;
    const char *name;
    unsigned char retryable; /* the same request may succeed if sent again */
    unsigned char early;     /* may fail before the request left: see request_left */
} curl_codes[] = {
#define X(name, retryable, early) {CURLE_##name, #name, retryable, early},
    LCM_CURL_CODES(X)
#undef X
};

static const struct curl_code *find_code(CURLcode rc)
{
    size_t i;
    for (i = 0; i < sizeof curl_codes / sizeof curl_codes[0]; i++)
        if (curl_codes[i].code == rc)
            return &curl_codes[i];
    return NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    http_t *h = ud;
    size_t n = size * nmemb;
    if (n > h->max - h->len) {
        h->too_large = 1; /* stop reading now, not after buffering it all */
        return 0;
    }
    if (h->len + n > h->cap) {
        size_t cap = h->cap ? h->cap : 4096;
        char *buf;
        while (cap < h->len + n)
            cap *= 2;
        buf = realloc(h->buf, cap);
        if (buf == NULL) {
            h->oom = 1;
            return 0;
        }
        h->buf = buf;
        h->cap = cap;
    }
    memcpy(h->buf + h->len, data, n);
    h->len += n;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    http_t *h = ud;
    size_t n = size * nmemb;
    static const char name[] = "retry-after:";
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        h->retry_after = -1; /* a new response (after a 100 or a 3xx) starts over */
    } else if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        char value[128];
        size_t i = sizeof name - 1, j = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (i < n && j < sizeof value - 1 && data[i] != '\r' && data[i] != '\n')
            value[j++] = data[i++];
        value[j] = '\0';
        if (j > 0 && isdigit((unsigned char)value[0])) {
            /* Clamped while reading: strtol would saturate at LONG_MAX, and later
             * arithmetic on it (seconds to ms) would overflow. */
            long secs = 0;
            for (i = 0; i < j && isdigit((unsigned char)value[i]); i++)
                secs = secs >= MAX_RETRY_AFTER ? MAX_RETRY_AFTER : secs * 10 + (value[i] - '0');
            h->retry_after = i == j ? (secs > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : secs) : -1;
        } else if (j > 0) {
            time_t at = curl_getdate(value, NULL); /* the HTTP-date form */
            time_t now = time(NULL);
            h->retry_after = at < 0 ? -1 : at <= now ? 0 : at - now > MAX_RETRY_AFTER ? MAX_RETRY_AFTER : (long)(at - now);
        }
    }
    return n;
}

static http_t *check_open(lua_State *L)
{
    http_t *h = luaL_checkudata(L, 1, LCM_HTTP_MT);
    if (h->curl == NULL) {
        lcm_error_push(L, "invalid", NULL, "the client is closed");
        lua_pushliteral(L, "client");
        lua_setfield(L, -2, "field");
        return NULL;
    }
    return h;
}

static void opt_string(lua_State *L, http_t *h, const char *name, CURLoption opt)
{
    lua_getfield(L, 1, name);
    if (!lua_isnil(L, -1))
        curl_easy_setopt(h->curl, opt, luaL_checkstring(L, -1));
    lua_pop(L, 1);
}

/* libcurl could not be set up (at run time: out of memory, a TLS library that failed to
 * initialise): nil, err, not a raise inside lcm.new. */
static int init_failed(lua_State *L, CURLcode rc, const char *what)
{
    const struct curl_code *c = find_code(rc);
    lua_pushfstring(L, "%s: %s", what, curl_easy_strerror(rc));
    lcm_error_push(L, "transport", c != NULL ? c->name : "FAILED_INIT", lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "sent");
    return lcm_error_return(L);
}

/* core.http{ headers=, ca_file=, insecure=, proxy=, user_agent=, username=, password=,
 *            max_response_bytes=, share= } -> client | nil, err. Options are checked by the
 * Lua layer; a wrong type or a number out of range here is a programming error and raises. */
static int http_new(lua_State *L)
{
    http_t *h;
    lua_Number max = 1024 * 1024;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "max_response_bytes");
    if (!lua_isnil(L, -1)) {
        max = lua_tonumber(L, -1);
        if (lua_type(L, -1) != LUA_TNUMBER || !(max >= 1 && max <= MAX_RESPONSE_BYTES))
            return luaL_argerror(L, 1, "max_response_bytes out of range (1..1073741824)");
    }
    lua_pop(L, 1);
    if (global_status != CURLE_OK)
        return init_failed(L, global_status, "curl_global_init failed");
    h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    luaL_setmetatable(L, LCM_HTTP_MT);
    h->curl = curl_easy_init();
    if (h->curl == NULL)
        return init_failed(L, CURLE_FAILED_INIT, "curl_easy_init failed");
    h->max = (size_t)max;

    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L); /* threaded hosts: no SIGALRM for DNS */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h->curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h->curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max);
    curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->errbuf);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(h->curl, CURLOPT_POST, 1L);

    lua_getfield(L, 1, "share");
    if (global_share != NULL && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
        curl_easy_setopt(h->curl, CURLOPT_SHARE, global_share);
    lua_pop(L, 1);

    lua_getfield(L, 1, "insecure");
    if (lua_toboolean(L, -1)) {
        curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "headers"); /* { "Name: value", ... }, checked by the Lua layer */
    if (lua_istable(L, -1)) {
        size_t i, n = lua_rawlen(L, -1);
        for (i = 1; i <= n; i++) {
            struct curl_slist *more;
            lua_rawgeti(L, -1, (lua_Integer)i);
            more = curl_slist_append(h->headers, luaL_checkstring(L, -1));
            lua_pop(L, 1);
            if (more == NULL)
                return luaL_error(L, "lcm: out of memory");
            h->headers = more;
        }
    }
    lua_pop(L, 1);
    opt_string(L, h, "ca_file", CURLOPT_CAINFO);
    opt_string(L, h, "proxy", CURLOPT_PROXY);
    opt_string(L, h, "user_agent", CURLOPT_USERAGENT);
    opt_string(L, h, "username", CURLOPT_USERNAME);
    opt_string(L, h, "password", CURLOPT_PASSWORD);
    return 1;
}

/* Whether any byte of the request may have left this machine, after a failed perform.
 * False only for a failure that can happen before sending (the code's phase) when libcurl
 * also reports that nothing was sent: CURLINFO_REQUEST_SIZE counts the request bytes written
 * to the socket and, like the pre-transfer time (set once connected and about to send), is
 * reset at the start of every transfer (Curl_initinfo). */
static int request_left(http_t *h, const struct curl_code *c)
{
    long size = 1;
    curl_off_t pretransfer = 1;
    if (c == NULL || !c->early)
        return 1;
    if (curl_easy_getinfo(h->curl, CURLINFO_REQUEST_SIZE, &size) != CURLE_OK ||
        curl_easy_getinfo(h->curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) != CURLE_OK)
        return 1;
    return size != 0 || pretransfer != 0;
}

/* Pushes the error of a failed perform: {kind, code, message, retryable, sent}. */
static void push_curl_error(lua_State *L, http_t *h, CURLcode rc)
{
    const char *msg = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    const struct curl_code *c = find_code(rc);
    if (h->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        lua_pushfstring(L, "the answer is larger than max_response_bytes (%d)", (int)h->max);
        lcm_error_push(L, "protocol", "TOO_LARGE", lua_tostring(L, -1));
        lua_remove(L, -2);
    } else if (h->oom) {
        lcm_error_push(L, "transport", "OUT_OF_MEMORY", "out of memory while reading the answer");
    } else {
        if (c != NULL) {
            lcm_error_push(L, rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport", c->name, msg);
        } else { /* a code newer than the curl.h the module was built against */
            lua_pushfstring(L, "CURLE_%d", (int)rc);
            lcm_error_push(L, "transport", lua_tostring(L, -1), msg);
            lua_remove(L, -2);
        }
        lua_pushboolean(L, c == NULL || c->retryable);
        lua_setfield(L, -2, "retryable");
    }
    lua_pushboolean(L, request_left(h, c));
    lua_setfield(L, -2, "sent");
}

/* client:perform(url, body, idempotency_key|nil, timeout_ms, connect_timeout_ms)
 *   -> status, body, retry_after_seconds|nil  |  nil, err
 * Timeouts 1..86400000 ms, else an argument error. Every err of a failed transfer has
 * err.sent: false only when provably no byte of the request left this machine. */
static int http_perform(lua_State *L)
{
    http_t *h = check_open(L);
    size_t body_len, key_len = 0;
    const char *url, *body, *key;
    long timeout, connect_timeout;
    CURLcode rc;
    long status = 0;
    char key_header[160];
    struct curl_slist key_node; /* on the stack, chained in front of the fixed headers */
    if (h == NULL)
        return lcm_error_return(L);
    url = luaL_checkstring(L, 2);
    body = luaL_checklstring(L, 3, &body_len);
    key = luaL_optlstring(L, 4, NULL, &key_len);
    timeout = (long)lcm_checkrange(L, 5, 1, MAX_TIMEOUT_MS);
    connect_timeout = (long)lcm_checkrange(L, 6, 1, MAX_TIMEOUT_MS);
    if (key != NULL && key_len > sizeof key_header - 32)
        return luaL_argerror(L, 4, "idempotency key too long");

    h->len = 0;
    h->too_large = h->oom = 0;
    h->retry_after = -1;
    h->errbuf[0] = '\0';
    /* libcurl parses the URL again whenever it is set: only set a new one. */
    if (h->url == NULL || strcmp(h->url, url) != 0) {
        char *copy = strdup(url);
        if (copy == NULL) {
            lcm_error_push(L, "transport", "OUT_OF_MEMORY", "out of memory building the request");
            return lcm_error_return(L);
        }
        free(h->url);
        h->url = copy;
        curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
    }
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    if (key != NULL) {
        snprintf(key_header, sizeof key_header, "Idempotency-Key: %s", key);
        key_node.data = key_header;
        key_node.next = h->headers;
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, &key_node);
    } else {
        curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
    }
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
    rc = curl_easy_perform(h->curl);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, NULL); /* body is only borrowed */

    if (rc != CURLE_OK) {
        push_curl_error(L, h, rc);
        return lcm_error_return(L);
    }
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
    lua_pushinteger(L, (lua_Integer)status);
    lua_pushlstring(L, h->buf ? h->buf : "", h->len);
    if (h->retry_after >= 0)
        lua_pushinteger(L, (lua_Integer)h->retry_after);
    else
        lua_pushnil(L);
    if (h->cap > KEEP_BUFFER) {
        free(h->buf);
        h->buf = NULL;
        h->cap = h->len = 0;
    }
    return 3;
}

/* close and __gc: one function, safe to call twice. */
static int http_close(lua_State *L)
{
    http_t *h = luaL_checkudata(L, 1, LCM_HTTP_MT);
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->buf);
    free(h->url);
    h->url = NULL;
    h->curl = NULL;
    h->headers = NULL;
    h->buf = NULL;
    h->cap = h->len = 0;
    return 0;
}

/* core.curl_version(): a function, not a string set at load time, because Debian's
 * curl_version() initialises libldap and libsasl2 just to report their versions, and
 * that memory is never given back; only a caller who asks should pay for it. */
static int http_curl_version(lua_State *L)
{
    lua_pushstring(L, curl_version());
    return 1;
}

/* core.curl_codes() -> { [number] = { name =, retryable =, phase = "connect"|"transfer" } }:
 * the table err.code and err.retryable come from, for specs and curious hosts. */
static int http_curl_codes(lua_State *L)
{
    size_t i;
    lua_createtable(L, 0, (int)(sizeof curl_codes / sizeof curl_codes[0]));
    for (i = 0; i < sizeof curl_codes / sizeof curl_codes[0]; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, curl_codes[i].name);
        lua_setfield(L, -2, "name");
        lua_pushboolean(L, curl_codes[i].retryable);
        lua_setfield(L, -2, "retryable");
        lua_pushstring(L, curl_codes[i].early ? "connect" : "transfer");
        lua_setfield(L, -2, "phase");
        lua_rawseti(L, -2, (int)curl_codes[i].code);
    }
    return 1;
}

void lcm_http_open(lua_State *L)
{
    static const luaL_Reg methods[] = {{"perform", http_perform}, {"close", http_close}, {NULL, NULL}};
    pthread_once(&global_once, global_init);
    lcm_newclass(L, LCM_HTTP_MT, methods, http_close);
    lua_pushcfunction(L, http_new);
    lua_setfield(L, -2, "http");
    lua_pushcfunction(L, http_curl_version);
    lua_setfield(L, -2, "curl_version");
    lua_pushcfunction(L, http_curl_codes);
    lua_setfield(L, -2, "curl_codes");
    lua_pushboolean(L, global_share != NULL);
    lua_setfield(L, -2, "shared_cache");
}
