/* HTTP transport on libcurl: a client's options (core.http) and each request of it (a
 * transfer, csrc/transfer.h) on a lane checked out of the process-wide pool (csrc/pool.c),
 * or on the client's own one with share = false. csrc/engine.c runs the transfers.
 * libcurl's callbacks only write into the transfer's C buffers; they never touch the Lua
 * state, so no Lua error can unwind through libcurl's frames. Everything that can fail
 * is remembered and reported after the transfer has ended. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "lcm.h"
#include "error.h"
#include "module.h"
#include "pool.h"
#include "process.h"
#include "transfer.h"

#define LCM_HTTP_MT "lcm.http"
#define MAX_RETRY_AFTER 86400L   /* seconds: a server's Retry-After is clamped to a day */
/* The ranges of the numeric options; the Lua layer checks them first (README, "Options"). */
#define MAX_TIMEOUT_MS 86400000
#define MAX_RESPONSE_BYTES 1073741824

#define N_OPTS 5 /* ca_file, proxy, user_agent, username, password */

typedef struct lcm_http {
    int closed, pooled;          /* pooled: share ~= false, the handle comes from csrc/pool.c */
    int in_flight;               /* transfers using the headers: close frees them after the last */
    lcm_handle_t *own;           /* share = false: the client's private handle */
    int own_busy;                /* its one request at a time; more get temporary handles */
    struct curl_slist *headers;  /* the client's fixed headers, built once */
    char *opts[N_OPTS];
    int insecure;
    char *options;               /* the options above as one canonical string */
    char *key;                   /* origin + options: the pool key of the last URL's origin */
    char *key_prefix;            /* the URL text the key's origin was parsed from */
    size_t max;
} http_t;

/* Every CURLE_* code of the libcurl the module is built against, with its phase:
 * csrc/curl_codes.txt, turned into curl_codes.h by tools/curl_codes.lua at build time.
 * Whether a code is retryable is not decided here: lua/lcm/policy.lua, by err.code. */
#include "curl_codes.h"

static const struct curl_code {
    CURLcode code;
    const char *name;
    unsigned char early;     /* may fail before the request left: see request_left */
} curl_codes[] = {
#define X(name, early) {CURLE_##name, #name, early},
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
    lcm_transfer_t *h = ud;
    size_t n = size * nmemb;
    if (n > h->http->max - h->len) {
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
    lcm_transfer_t *h = ud;
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

lcm_http_t *lcm_http_check(lua_State *L, int idx)
{
    http_t *h = luaL_checkudata(L, idx, LCM_HTTP_MT);
    if (h->closed) {
        lcm_error_push(L, "invalid", NULL, "the client is closed");
        lua_pushliteral(L, "client");
        lua_setfield(L, -2, "field");
        return NULL;
    }
    return h;
}

static const char *const opt_names[N_OPTS] = {"ca_file", "proxy", "user_agent", "username", "password"};
static const CURLoption opt_codes[N_OPTS] = {CURLOPT_CAINFO, CURLOPT_PROXY, CURLOPT_USERAGENT, CURLOPT_USERNAME,
                                             CURLOPT_PASSWORD};

/* The options every request of the client shares, on a handle new to it. */
/* A connection to LCM is not for the host's child processes (a PBX's System(), a script's
 * os.execute): one that inherited a pooled socket would hold the connection open for as long
 * as it runs. libcurl makes its sockets without close-on-exec; this sets it before connect. */
static int on_socket(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    int flags = fcntl(fd, F_GETFD);
    (void)ud;
    (void)purpose;
    if (flags >= 0)
        (void)fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    return CURL_SOCKOPT_OK;
}

static void setup_handle(http_t *h, CURL *curl)
{
    int i;
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L); /* threaded hosts: no SIGALRM for DNS */
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(curl, CURLOPT_SOCKOPTFUNCTION, on_socket);
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->max);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    if (h->insecure) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    for (i = 0; i < N_OPTS; i++)
        if (h->opts[i] != NULL)
            curl_easy_setopt(curl, opt_codes[i], h->opts[i]);
    /* Decision (issue 16 item 8): the `proxy` option is the only way to a proxy. libcurl
     * would otherwise take http_proxy, https_proxy, ALL_PROXY and no_proxy from the
     * environment (a PBX's /etc/environment, a systemd unit, an apt proxy) and send the
     * Set and its bearer token to that host, believing its answer. "" disables the
     * environment's proxy (CURLOPT_PROXY); NOPROXY "" overrides no_proxy, so a proxy that
     * was asked for is used for every host. A caller who wants the environment's proxy
     * passes it: proxy = os.getenv("https_proxy"). */
    if (h->opts[1] == NULL) /* opt_names[1]: "proxy" */
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "");
}

/* The pool key's option part: every option setup_handle sets that differs between clients,
 * each with its length, so that no two option sets give the same string. NULL when out of
 * memory (the Lua string it is built in may raise that too, before anything is held). */
static char *options_key(lua_State *L, const http_t *h)
{
    int i;
    char *key;
    lua_pushfstring(L, " insecure=%d max=%f", h->insecure, (lua_Number)h->max);
    for (i = 0; i < N_OPTS; i++) {
        if (h->opts[i] != NULL)
            lua_pushfstring(L, " %d:%d:%s", i, (int)strlen(h->opts[i]), h->opts[i]);
        else
            lua_pushfstring(L, " %d:-", i);
    }
    lua_concat(L, N_OPTS + 1);
    key = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return key;
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
    int i;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "max_response_bytes");
    if (!lua_isnil(L, -1)) {
        max = lua_tonumber(L, -1);
        if (!lcm_inrange(L, -1, 1, MAX_RESPONSE_BYTES))
            return luaL_argerror(L, 1, "max_response_bytes out of range (1..1073741824)");
    }
    lua_pop(L, 1);
    if (lcm_process_curl() != CURLE_OK)
        return init_failed(L, lcm_process_curl(), "curl_global_init failed");
    h = lua_newuserdata(L, sizeof *h);
    memset(h, 0, sizeof *h);
    h->closed = 1; /* until it is whole: __gc frees what was made */
    luaL_setmetatable(L, LCM_HTTP_MT);
    h->max = (size_t)max;
    lua_getfield(L, 1, "insecure");
    h->insecure = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 1, "share");
    h->pooled = !(lua_isboolean(L, -1) && !lua_toboolean(L, -1));
    lua_pop(L, 1);
    lua_getfield(L, 1, "headers"); /* { "Name: value", ... }, checked by the Lua layer */
    if (lua_istable(L, -1)) {
        size_t j, n = lua_rawlen(L, -1);
        for (j = 1; j <= n; j++) {
            struct curl_slist *more;
            lua_rawgeti(L, -1, (lua_Integer)j);
            more = curl_slist_append(h->headers, luaL_checkstring(L, -1));
            lua_pop(L, 1);
            if (more == NULL)
                return init_failed(L, CURLE_OUT_OF_MEMORY, "building the headers");
            h->headers = more;
        }
    }
    lua_pop(L, 1);
    for (i = 0; i < N_OPTS; i++) {
        lua_getfield(L, 1, opt_names[i]);
        if (!lua_isnil(L, -1) && (h->opts[i] = strdup(luaL_checkstring(L, -1))) == NULL)
            return init_failed(L, CURLE_OUT_OF_MEMORY, "copying the options");
        lua_pop(L, 1);
    }
    if (h->pooled) {
        if ((h->options = options_key(L, h)) == NULL)
            return init_failed(L, CURLE_OUT_OF_MEMORY, "building the pool key");
    } else {
        if ((h->own = lcm_handle_new()) == NULL)
            return init_failed(L, CURLE_FAILED_INIT, "curl_easy_init failed");
        setup_handle(h, h->own->curl);
    }
    h->closed = 0;
    return 1;
}

/* The pool key of url: its origin (scheme://host:port) and the client's options. The origin
 * is parsed again only when the URL's text before the path changes. 0 when out of memory. */
static int pool_key(http_t *h, const char *url)
{
    const char *start = strstr(url, "://");
    size_t n = start ? (size_t)(start + 3 - url) + strcspn(start + 3, "/?#") : strlen(url);
    char origin[512], *prefix, *key;
    if (h->key_prefix != NULL && strncmp(h->key_prefix, url, n) == 0 && h->key_prefix[n] == '\0')
        return 1;
    if ((prefix = malloc(n + 1)) == NULL)
        return 0;
    memcpy(prefix, url, n);
    prefix[n] = '\0';
    /* A URL libcurl cannot parse fails in curl_easy_perform; its text is key enough. */
    if (!lcm_origin(url, origin, sizeof origin))
        snprintf(origin, sizeof origin, "%s", prefix);
    if ((key = malloc(strlen(origin) + strlen(h->options) + 1)) == NULL) {
        free(prefix);
        return 0;
    }
    strcpy(key, origin);
    strcat(key, h->options);
    free(h->key);
    free(h->key_prefix);
    h->key = key;
    h->key_prefix = prefix;
    return 1;
}

/* The handle for one request: the client's own (share = false; a second request while it
 * is busy, from a task, gets a temporary handle), or one checked out of the pool. */
static lcm_handle_t *acquire(http_t *h, const char *url, lcm_handle_t **spare)
{
    lcm_handle_t *p, **pp;
    int fresh;
    if (!h->pooled && !h->own_busy) {
        if (lcm_handle_inherited(h->own)) {
            /* a fork() child: its parent's connection is not ours (see pool.c) */
            if ((p = lcm_handle_new()) == NULL)
                return NULL;
            lcm_handle_abandon(h->own);
            h->own = p;
            setup_handle(h, p->curl);
        }
        h->own_busy = 1;
        return h->own;
    }
    if (!h->pooled) {
        if ((p = lcm_handle_new()) != NULL)
            setup_handle(h, p->curl);
        return p;
    }
    if (!pool_key(h, url))
        return NULL;
    /* A lane this engine's last requests left (see release): its connection is warm, and the
     * pool's mutex and idle limits are not involved while requests follow each other. */
    for (pp = spare; pp != NULL && *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, h->key) == 0) {
            p = *pp;
            *pp = p->next;
            p->next = NULL;
            return p;
        }
    if ((p = lcm_pool_checkout(h->key, &fresh)) == NULL)
        return NULL;
    if (fresh)
        setup_handle(h, p->curl);
    return p;
}

/* After the request: nothing of the transfer's memory stays on the handle. A pooled lane
 * goes to the engine's spare list when it has one (csrc/engine.c gives those back to the
 * pool at its next turn, after a blocking call, and at close): with many requests in flight
 * the next request of the same key reuses it, instead of the pool closing it past max_idle
 * and the next request opening a new connection. */
static void release(http_t *h, lcm_handle_t *p, lcm_handle_t **spare)
{
    long connects = 0;
    curl_easy_getinfo(p->curl, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, NULL); /* body is only borrowed */
    curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, NULL);
    if (h->pooled && spare != NULL && p->key != NULL) {
        lcm_pool_count(connects);
        p->next = *spare;
        *spare = p;
    } else if (h->pooled) {
        lcm_pool_checkin(p, connects);
    } else if (p == h->own) {
        h->own_busy = 0;
        lcm_pool_count(connects);
    } else {
        lcm_pool_count(connects);
        lcm_handle_free(p); /* a share = false client's second handle */
    }
}

/* Whether any byte of the request may have left this machine, after a failed transfer.
 * False only for a failure that can happen before sending (the code's phase) when libcurl
 * also reports that nothing was sent: CURLINFO_REQUEST_SIZE counts the request bytes written
 * to the socket and, like the pre-transfer time (set once connected and about to send), is
 * reset at the start of every transfer (Curl_initinfo). */
static int request_left(CURL *curl, const struct curl_code *c)
{
    long size = 1;
    curl_off_t pretransfer = 1;
    if (c == NULL || !c->early)
        return 1;
    if (curl_easy_getinfo(curl, CURLINFO_REQUEST_SIZE, &size) != CURLE_OK ||
        curl_easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) != CURLE_OK)
        return 1;
    return size != 0 || pretransfer != 0;
}

/* Pushes the error of a failed transfer: {kind, code, message, sent}. */
static void push_curl_error(lua_State *L, lcm_transfer_t *t)
{
    const char *msg = t->errbuf[0] ? t->errbuf : curl_easy_strerror(t->rc);
    const struct curl_code *c = find_code(t->rc);
    if (t->cancelled || t->forked) {
        /* lcm.stop(), or a fork() child, ended it before its answer: a Set's fate is then
         * unknown when it was started (left); lcm.policy judges the codes. */
        lcm_error_push(L, t->cancelled ? "timeout" : "transport", t->cancelled ? "CANCELLED" : "FORKED",
                       t->cancelled ? "the request was cancelled (lcm.stop) before its answer"
                                    : "the request was made before a fork(): the child cannot wait for it");
    } else if (t->too_large || t->rc == CURLE_FILESIZE_EXCEEDED) {
        lua_pushfstring(L, "the answer is larger than max_response_bytes (%d)", (int)t->http->max);
        lcm_error_push(L, "protocol", "TOO_LARGE", lua_tostring(L, -1));
        lua_remove(L, -2);
    } else if (t->no_fd) {
        lcm_error_push(L, "transport", "NO_DESCRIPTORS", t->errbuf);
    } else if (t->oom) {
        lcm_error_push(L, "transport", "OUT_OF_MEMORY", t->left ? "out of memory while reading the answer" : t->errbuf);
    } else {
        if (c != NULL) {
            lcm_error_push(L, t->rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport", c->name, msg);
        } else { /* a code newer than the curl.h the module was built against */
            lua_pushfstring(L, "CURLE_%d", (int)t->rc);
            lcm_error_push(L, "transport", lua_tostring(L, -1), msg);
            lua_remove(L, -2);
        }
    }
    lua_pushboolean(L, t->left);
    lua_setfield(L, -2, "sent");
}

void lcm_transfer_args(lua_State *L, int arg, lcm_transfer_t *t)
{
    size_t key_len = 0;
    const char *url = luaL_checkstring(L, arg);
    const char *key;
    t->body = luaL_checklstring(L, arg + 1, &t->body_len);
    key = luaL_optlstring(L, arg + 2, NULL, &key_len);
    t->timeout_ms = (long)lcm_checkrange(L, arg + 3, 1, MAX_TIMEOUT_MS);
    t->connect_timeout_ms = (long)lcm_checkrange(L, arg + 4, 1, MAX_TIMEOUT_MS);
    if (key != NULL && key_len > sizeof t->key_header - 32)
        luaL_argerror(L, arg + 2, "idempotency key too long");
    if (key != NULL) {
        snprintf(t->key_header, sizeof t->key_header, "Idempotency-Key: %s", key);
        t->has_key = 1;
    }
    t->url = strdup(url); /* NULL (out of memory) fails in lcm_transfer_begin, unsent */
    t->retry_after = -1;
    t->left = 1;
}

/* Ends a transfer that never started: out of memory. */
static int unsent(lcm_transfer_t *t)
{
    /* No descriptor for a lane's epoll set (EMFILE, ENFILE): many requests in flight against
     * the process's open-file limit. Not memory: it passes when requests end. */
    t->no_fd = errno == EMFILE || errno == ENFILE;
    t->oom = !t->no_fd;
    t->rc = CURLE_OUT_OF_MEMORY;
    t->left = 0;
    snprintf(t->errbuf, sizeof t->errbuf, "%s",
             t->no_fd ? "no file descriptor left for a connection (the open-file limit, ulimit -n): "
                        "lower max_in_flight (lcm.configure_engine) or raise the limit"
                      : "out of memory getting a connection handle");
    return 0;
}

int lcm_transfer_begin(lcm_transfer_t *t)
{
    http_t *h = t->http;
    lcm_handle_t *p;
    if (t->url == NULL || (p = acquire(h, t->url, t->spare)) == NULL)
        return unsent(t);
    h->in_flight++;
    t->lane = p;
    /* libcurl parses the URL again whenever it is set: only set a new one. */
    if (p->url == NULL || strcmp(p->url, t->url) != 0) {
        free(p->url);
        p->url = t->url;
        t->url = NULL;
        curl_easy_setopt(p->curl, CURLOPT_URL, p->url);
    }
    curl_easy_setopt(p->curl, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(p->curl, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(p->curl, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(p->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)t->body_len);
    if (t->has_key) {
        t->key_node.data = t->key_header;
        t->key_node.next = h->headers;
        curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, &t->key_node);
    } else {
        curl_easy_setopt(p->curl, CURLOPT_HTTPHEADER, h->headers);
    }
    curl_easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, t->timeout_ms);
    curl_easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS, t->connect_timeout_ms);
    return 1;
}

static void free_options(http_t *h);
static void free_own(http_t *h);

void lcm_transfer_end(lcm_transfer_t *t, CURLcode rc)
{
    http_t *h = t->http;
    lcm_handle_t *p = t->lane;
    t->rc = rc;
    if (p == NULL)
        return;
    if (rc == CURLE_OK)
        curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &t->status);
    else if (!t->cancelled)
        t->left = request_left(p->curl, find_code(rc));
    release(h, p, t->spare);
    t->lane = NULL;
    if (--h->in_flight == 0 && h->closed) { /* closed while this transfer ran */
        free_own(h);
        free_options(h);
    }
}

int lcm_transfer_push(lua_State *L, lcm_transfer_t *t)
{
    if (t->rc != CURLE_OK || t->cancelled || t->forked) {
        push_curl_error(L, t);
        return lcm_error_return(L);
    }
    lua_pushinteger(L, (lua_Integer)t->status);
    lua_pushlstring(L, t->buf ? t->buf : "", t->len);
    if (t->retry_after >= 0)
        lua_pushinteger(L, (lua_Integer)t->retry_after);
    else
        lua_pushnil(L);
    return 3;
}

void lcm_transfer_free(lcm_transfer_t *t)
{
    free(t->buf);
    free(t->url);
    t->buf = t->url = NULL;
    t->cap = t->len = 0;
}

/* What a closed client holds until its last transfer has ended (csrc/engine.c): the fixed
 * headers are on that transfer's handle. */
static void free_options(http_t *h)
{
    int i;
    curl_slist_free_all(h->headers);
    h->headers = NULL;
    for (i = 0; i < N_OPTS; i++) {
        free(h->opts[i]);
        h->opts[i] = NULL;
    }
    free(h->options);
    free(h->key);
    free(h->key_prefix);
    h->options = h->key = h->key_prefix = NULL;
}

static void free_own(http_t *h)
{
    if (h->own == NULL || h->own_busy)
        return;
    if (lcm_handle_inherited(h->own))
        lcm_handle_abandon(h->own); /* the parent's connection: see pool.c */
    else
        lcm_handle_free(h->own);
    h->own = NULL;
}

/* close and __gc: one function, safe to call twice. What a transfer still running uses is
 * freed when it ends (lcm_transfer_end). */
static int http_close(lua_State *L)
{
    http_t *h = luaL_checkudata(L, 1, LCM_HTTP_MT);
    h->closed = 1;
    if (h->in_flight == 0) {
        free_own(h);
        free_options(h);
    }
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

/* core.curl_codes() -> { [number] = { name =, phase = "connect"|"transfer" } }: the table
 * err.code comes from, for specs and curious hosts (retryable: lcm.policy.retryable). */
static int http_curl_codes(lua_State *L)
{
    size_t i;
    lua_createtable(L, 0, (int)(sizeof curl_codes / sizeof curl_codes[0]));
    for (i = 0; i < sizeof curl_codes / sizeof curl_codes[0]; i++) {
        lua_createtable(L, 0, 2);
        lua_pushstring(L, curl_codes[i].name);
        lua_setfield(L, -2, "name");
        lua_pushstring(L, curl_codes[i].early ? "connect" : "transfer");
        lua_setfield(L, -2, "phase");
        lua_rawseti(L, -2, (int)curl_codes[i].code);
    }
    return 1;
}

void lcm_http_open(lua_State *L)
{
    static const luaL_Reg methods[] = {{"close", http_close}, {NULL, NULL}};
    static const luaL_Reg fns[] = {
        {"http", http_new}, {"curl_version", http_curl_version}, {"curl_codes", http_curl_codes}, {NULL, NULL},
    };
    lcm_newclass(L, LCM_HTTP_MT, methods, http_close);
    luaL_setfuncs(L, fns, 0);
}
