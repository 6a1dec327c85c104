/* The host that `make bench` runs under callgrind (bench/callgrind.lua drives it): a scenario
 * repeated N times, so that the instruction count of N and of 2N repetitions differ by
 * exactly N repetitions' work, and start-up (the dynamic loader, libcurl's and OpenSSL's
 * global init, the first connection and TLS handshake) cancels out.
 *
 *   cg_host fresh URL N CAFILE|- STEPS        N times: a fresh Lua state (luaL_newstate +
 *                                             luaL_openlibs), STEPS, lua_close
 *   cg_host loop URL N CAFILE|- SETUP STEPS   one Lua state: SETUP once, then STEPS N times
 *
 * STEPS is a comma-separated list (may be empty):
 *   require:NAME   require(NAME)
 *   new            lcm.new{ url = URL, ca_file = CAFILE } (after require:lcm)
 *   get            client:get_outcomes("", "MANUAL"), which must succeed
 *   set            client:set_outcome{...} of one call (the seed Set), which must succeed
 *   dnc            client:set_dnc{...} of one call (a typed Set), which must succeed
 *   close          client:close()
 *   curl           one POST with a raw libcurl handle that lives as long as the process
 *                  (warm: its connection is reused), the floor lcm is measured against
 *   dofile:PATH    runs the Lua file PATH with URL and CAFILE|nil as arguments (a setup
 *                  step: it may define globals for call:)
 *   call:NAME      calls the global function NAME, which must return true
 * The steps use the C API, not Lua source, so that no parse is counted that a host would
 * not do. Linked with Lua's static library (its internal functions then have names in the
 * profile) and exporting Lua's API, so C modules resolve lua_* from the host, as they do in
 * FreeSWITCH and Asterisk. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

/* Stack slots of a state's lcm module and client, once the steps made them. */
#define SLOT_LCM 1
#define SLOT_CLIENT 2

typedef struct {
    const char *url, *cafile;
    CURL *raw; /* the raw request's handle, made on first use */
    struct curl_slist *headers;
} bench_t;

static const char request[] = "{\"channel\":\"LCM\",\"topic\":\"WebService\",\"subtopic\":\"GetOutcomeByOutcomegroup\","
                              "\"source\":\"bench\",\"data\":{\"callid\":\"\",\"type\":\"MANUAL\"}}";

static size_t sink(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static int raw_request(bench_t *b)
{
    if (b->raw == NULL) {
        b->raw = curl_easy_init();
        b->headers = curl_slist_append(b->headers, "Content-Type: application/json");
        b->headers = curl_slist_append(b->headers, "Expect:");
        curl_easy_setopt(b->raw, CURLOPT_URL, b->url);
        curl_easy_setopt(b->raw, CURLOPT_POSTFIELDS, request);
        curl_easy_setopt(b->raw, CURLOPT_HTTPHEADER, b->headers);
        curl_easy_setopt(b->raw, CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(b->raw, CURLOPT_NOSIGNAL, 1L);
        if (b->cafile != NULL)
            curl_easy_setopt(b->raw, CURLOPT_CAINFO, b->cafile);
    }
    if (curl_easy_perform(b->raw) != CURLE_OK) {
        fprintf(stderr, "cg_host: raw request failed\n");
        return 0;
    }
    return 1;
}

/* Calls the function below its nargs arguments, expecting a true first result. */
static int call(lua_State *L, int nargs, const char *what)
{
    if (lua_pcall(L, nargs, 2, 0) != 0) {
        fprintf(stderr, "cg_host: %s: %s\n", what, lua_tostring(L, -1));
        return 0;
    }
    if (!lua_toboolean(L, -2)) {
        fprintf(stderr, "cg_host: %s: %s\n", what, luaL_tolstring(L, -1, NULL));
        return 0;
    }
    lua_pop(L, 1);
    return 1;
}

static int step(lua_State *L, bench_t *b, const char *s)
{
    if (strncmp(s, "require:", 8) == 0) {
        lua_getglobal(L, "require");
        lua_pushstring(L, s + 8);
        if (!call(L, 1, s))
            return 0;
        if (strcmp(s + 8, "lcm") == 0)
            lua_replace(L, SLOT_LCM);
        else
            lua_pop(L, 1);
    } else if (strcmp(s, "new") == 0) {
        lua_getfield(L, SLOT_LCM, "new");
        lua_createtable(L, 0, 2);
        lua_pushstring(L, b->url);
        lua_setfield(L, -2, "url");
        if (b->cafile != NULL) {
            lua_pushstring(L, b->cafile);
            lua_setfield(L, -2, "ca_file");
        }
        if (!call(L, 1, s))
            return 0;
        lua_replace(L, SLOT_CLIENT);
    } else if (strcmp(s, "get") == 0) {
        lua_getfield(L, SLOT_CLIENT, "get_outcomes");
        lua_pushvalue(L, SLOT_CLIENT);
        lua_pushliteral(L, "");
        lua_pushliteral(L, "MANUAL");
        if (!call(L, 3, s))
            return 0;
        lua_pop(L, 1);
    } else if (strcmp(s, "set") == 0 || strcmp(s, "dnc") == 0) {
        int set = strcmp(s, "set") == 0;
        lua_getfield(L, SLOT_CLIENT, set ? "set_outcome" : "set_dnc");
        lua_pushvalue(L, SLOT_CLIENT);
        lua_createtable(L, 0, 8);
        lua_pushliteral(L, "12345");
        lua_setfield(L, -2, "callid");
        lua_pushliteral(L, "5|3|1|0|0|44|1");
        lua_setfield(L, -2, "account_number");
        lua_pushinteger(L, 107);
        lua_setfield(L, -2, "business_outcome");
        if (set) {
            lua_pushinteger(L, 7);
            lua_setfield(L, -2, "call_outcome");
            lua_pushliteral(L, "1234");
            lua_setfield(L, -2, "user_id");
            lua_pushliteral(L, "bench");
            lua_setfield(L, -2, "agent_comments");
        }
        if (!call(L, 2, s))
            return 0;
        lua_pop(L, 1);
    } else if (strcmp(s, "close") == 0) {
        lua_getfield(L, SLOT_CLIENT, "close");
        lua_pushvalue(L, SLOT_CLIENT);
        if (lua_pcall(L, 1, 0, 0) != 0) {
            fprintf(stderr, "cg_host: close: %s\n", lua_tostring(L, -1));
            return 0;
        }
    } else if (strncmp(s, "dofile:", 7) == 0) {
        if (luaL_loadfile(L, s + 7) != 0) {
            fprintf(stderr, "cg_host: %s\n", lua_tostring(L, -1));
            return 0;
        }
        lua_pushstring(L, b->url);
        if (b->cafile != NULL)
            lua_pushstring(L, b->cafile);
        else
            lua_pushnil(L);
        if (lua_pcall(L, 2, 0, 0) != 0) {
            fprintf(stderr, "cg_host: %s: %s\n", s, lua_tostring(L, -1));
            return 0;
        }
    } else if (strncmp(s, "call:", 5) == 0) {
        lua_getglobal(L, s + 5);
        if (!call(L, 0, s))
            return 0;
        lua_pop(L, 1);
    } else if (strcmp(s, "curl") == 0) {
        return raw_request(b);
    } else {
        fprintf(stderr, "cg_host: unknown step '%s'\n", s);
        return 0;
    }
    return 1;
}

static int steps(lua_State *L, bench_t *b, const char *list)
{
    char buf[512], *s, *save = NULL;
    if (strlen(list) >= sizeof buf) {
        fprintf(stderr, "cg_host: steps too long\n");
        return 0;
    }
    strcpy(buf, list);
    for (s = strtok_r(buf, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save))
        if (!step(L, b, s))
            return 0;
    return 1;
}

static lua_State *state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    lua_settop(L, SLOT_CLIENT); /* the slots, nil until a step fills them */
    return L;
}

int main(int argc, char **argv)
{
    bench_t b = {NULL, NULL, NULL, NULL};
    int fresh = argc == 6 && strcmp(argv[1], "fresh") == 0;
    int loop = argc == 7 && strcmp(argv[1], "loop") == 0;
    long i, n = argc > 3 ? atol(argv[3]) : 0;
    int ok = 1;
    lua_State *L = NULL;
    if (!(fresh || loop) || n < 1) {
        fprintf(stderr, "usage: cg_host fresh URL N CAFILE|- STEPS | cg_host loop URL N CAFILE|- SETUP STEPS\n");
        return 2;
    }
    b.url = argv[2];
    b.cafile = strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (loop) {
        L = state();
        ok = steps(L, &b, argv[5]);
    }
    for (i = 0; ok && i < n; i++) {
        if (fresh) {
            L = state();
            ok = steps(L, &b, argv[5]);
            lua_close(L);
        } else {
            ok = steps(L, &b, argv[6]);
        }
    }
    if (loop)
        lua_close(L);
    if (b.raw != NULL)
        curl_easy_cleanup(b.raw);
    curl_slist_free_all(b.headers);
    curl_global_cleanup();
    return ok ? 0 : 1;
}
