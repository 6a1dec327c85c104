/* lcm-embed: embeds Lua the way the telephony servers do, to test lcm inside them.
 *
 *   freeswitch mode: like mod_lua, every call is a fresh lua_State, in the call's thread,
 *                    running examples/freeswitch/lcm_outcome.lua, then closed;
 *   asterisk mode:   like pbx_lua, one long-lived lua_State per channel thread runs
 *                    examples/asterisk/extensions.lua's wrap-up for each of its calls.
 *
 * The host provides the objects those scripts touch (session, freeswitch.consoleLog,
 * channel, app), LCM is real (lcm-sim). Each call prints "callid result" (OK, or the kind
 * of the error the script reported); the summary line goes to stderr. Exit 0 when every
 * call was accounted for and no script raised an error.
 *
 *   lcm-embed --mode freeswitch|asterisk --threads N --calls M --url URL [--no-share]
 *             [--outbox DIR]  (every client of every call queues into that outbox)
 * Run from the repository root with LUA_PATH and LUA_CPATH pointing at lua/ and the build. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#ifndef LUA_OK /* Lua 5.1 */
#define LUA_OK 0
#endif

typedef struct {
    int id, calls, asterisk, no_share;
    const char *url, *outbox;
    int ok, failed, raised;
    char *out; /* the "callid result" lines of this thread */
    size_t out_len, out_cap;
} worker_t;

/* The host objects, in Lua: what mod_lua and pbx_lua hand to a script. The variables of the
 * current call live in the table HOST_VARS, which the host resets for every call. */
static const char prelude[] =
    "local url, no_share, outbox = ...\n"
    "if no_share or outbox then\n"
    "  local lcm = require 'lcm'\n"
    "  local new = lcm.new\n"
    "  lcm.new = function(o)\n"
    "    if no_share then o.share = false end\n"
    "    o.outbox = outbox\n"
    "    return new(o)\n"
    "  end\n"
    "end\n"
    "HOST_VARS = {}\n"
    "-- FreeSWITCH mod_lua\n"
    "session = {\n"
    "  getVariable = function(_, k) return HOST_VARS[k] end,\n"
    "  setVariable = function(_, k, v) HOST_VARS[k] = v end,\n"
    "  sleep = function(_, ms) host_sleep(ms) end,\n"
    "}\n"
    "freeswitch = {\n"
    "  consoleLog = function(level, message) host_log(level, message) end,\n"
    "  getGlobalVariable = function(name) if name == 'lcm_url' then return url end end,\n"
    "}\n"
    "-- Asterisk pbx_lua\n"
    "channel = setmetatable({}, { __index = function(_, name)\n"
    "  if name == 'LCM_URL' then return { get = function() return url end } end\n"
    "  return { get = function() return HOST_VARS[name] end, set = function(_, v) HOST_VARS[name] = v end }\n"
    "end })\n"
    "app = setmetatable({}, { __index = function(_, name)\n"
    "  return function(...) if name:lower() == 'verbose' then host_log('VERBOSE', table.concat({ ... }, ',')) end end\n"
    "end })\n";

static const char new_call[] =
    "local callid = ...\n"
    "HOST_VARS = { lcm_callid = callid, lcm_account = '5|3|1|0|0|44|1', lcm_agent = '1234',\n"
    "  lcm_outcome = 'success', lcm_telephony = 'DNC', lcm_calltype = 'MANUAL',\n"
    "  LCM_CALLID = callid, LCM_ACCOUNT = '5|3|1|0|0|44|1', LCM_AGENT = '1234', LCM_OUTCOME = 'success',\n"
    "  LCM_TELEPHONY = 'DNC', LCM_CALLTYPE = 'MANUAL' }\n";

static int host_sleep(lua_State *L)
{
    double ms = luaL_checknumber(L, 1);
    struct timespec ts;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (double)ts.tv_sec * 1000) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

static int host_log(lua_State *L)
{
    (void)L; /* a real host prints it; here it only has to be callable */
    return 0;
}

static void emit(worker_t *w, const char *callid, const char *result)
{
    size_t need = strlen(callid) + strlen(result) + 3;
    if (w->out_len + need > w->out_cap) {
        size_t cap = w->out_cap ? w->out_cap * 2 : 4096;
        char *p;
        while (cap < w->out_len + need)
            cap *= 2;
        p = realloc(w->out, cap);
        if (p == NULL)
            abort();
        w->out = p;
        w->out_cap = cap;
    }
    w->out_len += (size_t)sprintf(w->out + w->out_len, "%s %s\n", callid, result);
}

static int run(lua_State *L, const char *chunk, size_t len, const char *name, int nargs)
{
    if (luaL_loadbuffer(L, chunk, len, name) != LUA_OK)
        return 0;
    lua_insert(L, -(nargs + 1));
    return lua_pcall(L, nargs, 0, 0) == LUA_OK;
}

static lua_State *new_state(worker_t *w)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    lua_pushcfunction(L, host_sleep);
    lua_setglobal(L, "host_sleep");
    lua_pushcfunction(L, host_log);
    lua_setglobal(L, "host_log");
    lua_pushstring(L, w->url);
    lua_pushboolean(L, w->no_share);
    lua_pushstring(L, w->outbox); /* nil when NULL */
    if (!run(L, prelude, sizeof prelude - 1, "=host", 3)) {
        fprintf(stderr, "lcm-embed: prelude: %s\n", lua_tostring(L, -1));
        abort();
    }
    return L;
}

/* One call: reset the call's variables, run the script, read what it left. */
static void one_call(worker_t *w, lua_State *L, int n)
{
    char callid[64];
    const char *var = w->asterisk ? "LCM_RESULT" : "lcm_result";
    int ok;
    snprintf(callid, sizeof callid, "t%dc%d", w->id, n);
    lua_pushstring(L, callid);
    ok = run(L, new_call, sizeof new_call - 1, "=call", 1);
    if (ok && w->asterisk) {
        lua_getglobal(L, "extensions");
        lua_getfield(L, -1, "lcm-wrapup");
        lua_getfield(L, -1, "s");
        lua_remove(L, -2);
        lua_remove(L, -2);
        lua_pushliteral(L, "lcm-wrapup");
        lua_pushliteral(L, "s");
        ok = lua_pcall(L, 2, 0, 0) == LUA_OK;
    } else if (ok) {
        ok = luaL_loadfile(L, "examples/freeswitch/lcm_outcome.lua") == LUA_OK && lua_pcall(L, 0, 0, 0) == LUA_OK;
    }
    if (!ok) {
        fprintf(stderr, "lcm-embed: %s raised: %s\n", callid, lua_tostring(L, -1));
        lua_settop(L, 0);
        w->raised++;
        emit(w, callid, "raised");
        return;
    }
    lua_getglobal(L, "HOST_VARS");
    lua_getfield(L, -1, var);
    if (lua_type(L, -1) == LUA_TSTRING) {
        const char *result = lua_tostring(L, -1);
        if (strcmp(result, "OK") == 0)
            w->ok++;
        else
            w->failed++;
        emit(w, callid, result);
    } else {
        w->raised++;
        emit(w, callid, "no-result");
    }
    lua_settop(L, 0);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    lua_State *L = NULL;
    int n;
    if (w->asterisk) {
        L = new_state(w);
        if (luaL_loadfile(L, "examples/asterisk/extensions.lua") != LUA_OK || lua_pcall(L, 0, 0, 0) != LUA_OK) {
            fprintf(stderr, "lcm-embed: extensions.lua: %s\n", lua_tostring(L, -1));
            abort();
        }
    }
    for (n = 1; n <= w->calls; n++) {
        if (!w->asterisk)
            L = new_state(w); /* mod_lua: a fresh state for every call... */
        one_call(w, L, n);
        if (!w->asterisk) {
            lua_close(L); /* ...closed when the script ends */
            L = NULL;
        }
    }
    if (L != NULL)
        lua_close(L);
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = 4, calls = 10, asterisk = 0, no_share = 0, i, ok = 0, failed = 0, raised = 0;
    const char *url = NULL, *outbox = NULL;
    pthread_t *tids;
    worker_t *ws;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--no-share") == 0) {
            no_share = 1;
            continue;
        }
        i++;
        if (strcmp(a, "--mode") == 0)
            asterisk = strcmp(v, "asterisk") == 0;
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--calls") == 0)
            calls = atoi(v);
        else if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--outbox") == 0)
            outbox = v;
        else
            url = NULL, i = argc;
    }
    if (url == NULL || threads < 1 || calls < 1) {
        fprintf(stderr, "usage: lcm-embed --mode freeswitch|asterisk --threads N --calls M --url URL "
                        "[--no-share] [--outbox DIR]\n");
        return 2;
    }
    tids = calloc((size_t)threads, sizeof *tids);
    ws = calloc((size_t)threads, sizeof *ws);
    if (tids == NULL || ws == NULL)
        return 1;
    for (i = 0; i < threads; i++) {
        ws[i].id = i + 1;
        ws[i].calls = calls;
        ws[i].asterisk = asterisk;
        ws[i].no_share = no_share;
        ws[i].url = url;
        ws[i].outbox = outbox;
        if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0)
            return 1;
    }
    for (i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        fwrite(ws[i].out, 1, ws[i].out_len, stdout);
        ok += ws[i].ok;
        failed += ws[i].failed;
        raised += ws[i].raised;
        free(ws[i].out);
    }
    fprintf(stderr, "lcm-embed: %s mode, %d threads x %d calls: %d OK, %d failed with an error kind, %d raised\n",
            asterisk ? "asterisk" : "freeswitch", threads, calls, ok, failed, raised);
    free(tids);
    free(ws);
    return raised == 0 && ok + failed == threads * calls ? 0 : 1;
}
