/* The PBX side of lcm-embed: embeds Lua the way the telephony servers do, to test lcm inside
 * them. Built as a shared object linked with liblua, loaded by embed/loader.c with
 * RTLD_GLOBAL and never unloaded: Asterisk loads pbx_lua (AST_MODFLAG_GLOBAL_SYMBOLS) and
 * FreeSWITCH mod_lua (SMODF_GLOBAL_SYMBOLS, which cannot be unloaded) the same way, so a
 * C module that `require` loads finds lua_* in liblua through the global scope.
 *
 *   freeswitch mode: like mod_lua, every call is a fresh lua_State (luaL_newstate, the
 *                    standard libraries, the freeswitch object, the session), in the call's
 *                    thread, running examples/freeswitch/lcm_outcome.lua; closed at its end;
 *   tasks mode:      a dialer script's model: one lua_State per thread for all its calls, each
 *                    call a task (lcm.spawn) setting its outcome, all run by one lcm.run: each
 *                    thread drives an engine of its own with every call in flight at once;
 *   asterisk mode:   like pbx_lua, extensions.lua first runs once without a channel (the
 *                    module's load), then every channel gets a fresh lua_State in which
 *                    examples/asterisk/extensions.lua runs again (with app and channel);
 *                    the dialplan's Gosub(lcm-wrapup,s,1) calls extensions["lcm-wrapup"].s,
 *                    which must Return (app["return"]); the state is closed at hangup.
 *
 * LCM is real (lcm-sim). Each call prints "callid result" (the script's result variable);
 * the summary goes to stderr, with the connections the process opened (the pool's count)
 * and the tokens left in the retry budget of the URL. Exit 0 when every call was accounted
 * for and no script raised an error or failed to Return.
 *
 *   lcm-embed --mode freeswitch|asterisk|tasks --threads N --calls M --url URL --outbox DIR
 *             [--no-share] [--ca-file PEM] [--max-total N] [--fork] [--stats]
 * --stats: after the calls, a fresh state prints lcm.stats_text() to stdout (after a line
 * "lcm.stats_text():"): the process-wide counters every thread's states fed.
 * --fork: after the calls, the process forks (as a host running a helper program might); the
 * child makes call t0c1 and the parent then t0c2, and it prints the connections each of them
 * opened ("fork_child=N fork_parent=N"): the child must not use its parent's connections,
 * nor spoil them.
 * Run from the repository root with LUA_PATH and LUA_CPATH pointing at lua/ and the build. */
#include <errno.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
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
    int id, calls, asterisk, tasks, no_share, max_total;
    const char *url, *outbox, *ca_file;
    int ok, failed, raised;
    char *out; /* the "callid result" lines of this thread */
    size_t out_len, out_cap;
} worker_t;

/* What the test adds to every client (share = false, a CA for the simulator's certificate),
 * by wrapping lcm.new, and the pool's max_total; the script is the example as shipped. */
static const char test_hooks[] =
    "local no_share, ca_file, max_total = ...\n"
    "if max_total then assert(require('lcm').configure_pool { max_total = max_total }) end\n"
    "if no_share or ca_file then\n"
    "  local lcm = require 'lcm'\n"
    "  local new = lcm.new\n"
    "  lcm.new = function(o)\n"
    "    if no_share then o.share = false end\n"
    "    o.ca_file = ca_file\n"
    "    return new(o)\n"
    "  end\n"
    "end\n";

/* mod_lua: the freeswitch object (luaopen_freeswitch) and, for a script run from the
 * dialplan, the session of the call; HOST_VARS are the channel's variables. */
static const char freeswitch_objects[] =
    "local globals, vars = ...\n"
    "HOST_VARS = vars\n"
    "freeswitch = {\n"
    "  consoleLog = function(level, message) host_log(level, message) end,\n"
    "  getGlobalVariable = function(name) return globals[name] end,\n"
    "  msleep = function(ms) host_sleep(ms) end,\n"
    "}\n"
    "session = {\n"
    "  getVariable = function(_, k) return vars[k] end,\n"
    "  setVariable = function(_, k, v) vars[k] = v end,\n"
    "  sleep = function(_, ms) host_sleep(ms) end,\n"
    "}\n";

/* pbx_lua: channel.NAME:get() / :set(v) on the dialplan's variables (globals included),
 * app.NAME(...) runs an application; Return ends the Gosub. */
static const char asterisk_objects[] =
    "local globals, vars = ...\n"
    "HOST_VARS = vars\n"
    "channel = setmetatable({}, { __index = function(_, name)\n"
    "  return { get = function() if vars[name] ~= nil then return vars[name] end return globals[name] end,\n"
    "           set = function(_, v) vars[name] = v end }\n"
    "end })\n"
    "app = setmetatable({}, { __index = function(_, name)\n"
    "  return function(...)\n"
    "    if name:lower() == 'verbose' then host_log('VERBOSE', table.concat({ ... }, ',')) end\n"
    "    if name:lower() == 'log' then host_log(...) end\n"
    "    if name:lower() == 'return' then HOST_RETURNED = true end\n"
    "  end\n"
    "end })\n";

/* The call's variables, as the dialplan (or the agent's wrap-up) set them. */
static const char call_vars[] =
    "local callid, asterisk = ...\n"
    "local v = { callid = callid, account = '5|3|1|0|0|44|1', agent = '1234', outcome = '107',\n"
    "            telephony = 'DNC' }\n"
    "local out = {}\n"
    "for k, x in pairs(v) do out[(asterisk and 'LCM_' or 'lcm_') .. (asterisk and k:upper() or k)] = x end\n"
    "return out\n";

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

/* The host's log (Log() in Asterisk, freeswitch.consoleLog): one line "log LEVEL message"
 * on stdout, so the spec sees what an admin's log would. stdout, like the results: one FILE
 * whose lock keeps each line whole (on stderr, unbuffered, a line could land between two
 * chunks of a result line that stdout's buffer flushed). */
static int host_log(lua_State *L)
{
    size_t len;
    const char *level = luaL_optstring(L, 1, "?"), *message = luaL_optlstring(L, 2, "", &len);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    fprintf(stdout, "log %s %.*s\n", level, (int)len, message);
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

/* Runs chunk with the nargs values on the stack; leaves nresults, or the error message. */
static int run(lua_State *L, const char *chunk, size_t len, const char *name, int nargs, int nresults)
{
    if (luaL_loadbuffer(L, chunk, len, name) != LUA_OK) {
        lua_insert(L, -(nargs + 1));
        lua_pop(L, nargs);
        return 0;
    }
    lua_insert(L, -(nargs + 1));
    return lua_pcall(L, nargs, nresults, 0) == LUA_OK;
}

static void push_globals(lua_State *L, const worker_t *w)
{
    lua_newtable(L);
    lua_pushstring(L, w->url);
    lua_setfield(L, -2, w->asterisk ? "LCM_URL" : "lcm_url");
    lua_pushstring(L, w->outbox);
    lua_setfield(L, -2, w->asterisk ? "LCM_OUTBOX" : "lcm_outbox");
}

/* A state with the standard libraries, the host's sleep and log, and the test's hooks; NULL
 * (the error on L's stack) when the hooks failed: *out is the state either way. */
static int hooked_state(const worker_t *w, lua_State **out)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    *out = L;
    luaL_openlibs(L);
    lua_pushcfunction(L, host_sleep);
    lua_setglobal(L, "host_sleep");
    lua_pushcfunction(L, host_log);
    lua_setglobal(L, "host_log");
    lua_pushboolean(L, w->no_share);
    if (w->ca_file != NULL)
        lua_pushstring(L, w->ca_file);
    else
        lua_pushnil(L);
    if (w->max_total > 0)
        lua_pushinteger(L, w->max_total);
    else
        lua_pushnil(L);
    return run(L, test_hooks, sizeof test_hooks - 1, "=hooks", 3, 0);
}

/* The state a host makes for one call (mod_lua) or one channel (pbx_lua). */
static lua_State *new_state(const worker_t *w, const char *callid)
{
    lua_State *L;
    if (!hooked_state(w, &L))
        goto fail;
    push_globals(L, w);
    lua_pushstring(L, callid);
    lua_pushboolean(L, w->asterisk);
    if (!run(L, call_vars, sizeof call_vars - 1, "=vars", 2, 1))
        goto fail;
    if (w->asterisk ? !run(L, asterisk_objects, sizeof asterisk_objects - 1, "=pbx_lua", 2, 0)
                    : !run(L, freeswitch_objects, sizeof freeswitch_objects - 1, "=mod_lua", 2, 0))
        goto fail;
    return L;
fail:
    fprintf(stderr, "lcm-embed: host objects: %s\n", lua_tostring(L, -1));
    abort();
}

/* One call, start to hangup: its own state, the script, the result variable. */
static void one_call(worker_t *w, int n)
{
    char callid[64];
    lua_State *L;
    int ok;
    snprintf(callid, sizeof callid, "t%dc%d", w->id, n);
    L = new_state(w, callid);
    if (w->asterisk) {
        /* pbx_lua: extensions.lua runs again in the channel's new state, then the
         * dialplan's Gosub(lcm-wrapup,s,1) calls the extension's function. */
        ok = luaL_loadfile(L, "examples/asterisk/extensions.lua") == LUA_OK && lua_pcall(L, 0, 0, 0) == LUA_OK;
        if (ok) {
            lua_getglobal(L, "extensions");
            lua_getfield(L, -1, "lcm-wrapup");
            lua_getfield(L, -1, "s");
            lua_remove(L, -2);
            lua_remove(L, -2);
            lua_pushliteral(L, "lcm-wrapup");
            lua_pushliteral(L, "s");
            ok = lua_pcall(L, 2, 0, 0) == LUA_OK;
        }
    } else {
        ok = luaL_loadfile(L, "examples/freeswitch/lcm_outcome.lua") == LUA_OK && lua_pcall(L, 0, 0, 0) == LUA_OK;
    }
    if (!ok) {
        fprintf(stderr, "lcm-embed: %s raised: %s\n", callid, lua_tostring(L, -1));
        w->raised++;
        emit(w, callid, "raised");
    } else {
        lua_getglobal(L, "HOST_RETURNED");
        if (w->asterisk && !lua_toboolean(L, -1)) {
            w->raised++; /* "Auto fallthrough": the dialplan would never get the result */
            emit(w, callid, "no-return");
        } else {
            lua_getglobal(L, "HOST_VARS");
            lua_getfield(L, -1, w->asterisk ? "LCM_RESULT" : "lcm_result");
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
        }
    }
    lua_close(L); /* the script's end (mod_lua) or the channel's hangup (pbx_lua) */
}

/* tasks mode: every call of the thread is a task of one state; "callid result" lines back. */
static const char tasks_script[] =
    "local url, outbox, id, calls = ...\n"
    "local lcm = require 'lcm'\n"
    "assert(lcm.configure_engine { max_in_flight = calls })\n"
    "local c = assert(lcm.new { url = url, outbox = outbox, logger = function(level, message)\n"
    "  if level ~= 'debug' then host_log(level, message) end end })\n"
    "local lines = {}\n"
    "for n = 1, calls do\n"
    "  local callid = string.format('t%dc%d', id, n)\n"
    "  assert(lcm.spawn(function()\n"
    "    local ok, err = c:set_outcome { callid = callid, account_number = '5|3|1|0|0|44|1',\n"
    "                                    business_outcome = 107, call_outcome = 'DNC', user_id = '1234' }\n"
    "    lines[#lines + 1] = callid .. ' ' .. (ok and 'OK' or err.queued and 'QUEUED' or ('FAILED ' .. err.kind))\n"
    "  end))\n"
    "end\n"
    "local left, failures = lcm.run(120000)\n"
    "assert(left == 0, left .. ' tasks still running')\n"
    "assert(#failures == 0, failures[1] and failures[1].traceback)\n"
    "c:close()\n"
    "return table.concat(lines, '\\n')\n";

static void tasks_thread(worker_t *w)
{
    lua_State *L;
    char callid[64];
    if (hooked_state(w, &L)) {
        lua_pushstring(L, w->url);
        lua_pushstring(L, w->outbox);
        lua_pushinteger(L, w->id);
        lua_pushinteger(L, w->calls);
    }
    if (lua_gettop(L) != 4 || !run(L, tasks_script, sizeof tasks_script - 1, "=dialer", 4, 1)) {
        snprintf(callid, sizeof callid, "t%d", w->id);
        fprintf(stderr, "lcm-embed: %s raised: %s\n", callid, lua_tostring(L, -1));
        w->raised += w->calls;
        emit(w, callid, "raised");
    } else {
        const char *line = lua_tostring(L, -1);
        while (line != NULL && *line != '\0') {
            const char *end = strchr(line, '\n'), *space = strchr(line, ' ');
            size_t n = end ? (size_t)(end - line) : strlen(line);
            char result[64];
            if (space == NULL || space > line + n || (size_t)(space - line) >= sizeof callid)
                break;
            snprintf(callid, sizeof callid, "%.*s", (int)(space - line), line);
            snprintf(result, sizeof result, "%.*s", (int)(line + n - space - 1), space + 1);
            if (strcmp(result, "OK") == 0)
                w->ok++;
            else
                w->failed++;
            emit(w, callid, result);
            line = end ? end + 1 : NULL;
        }
    }
    lua_close(L);
}

static void *worker(void *arg)
{
    worker_t *w = arg;
    int n;
    if (w->tasks) {
        tasks_thread(w);
        return NULL;
    }
    for (n = 1; n <= w->calls; n++)
        one_call(w, n);
    return NULL;
}

/* What the process as a whole did: connections opened (the pool's count, private handles
 * included), pooled handles made, temporary ones, and the tokens left in the URL's shared
 * retry budget (capacity 500, the default). */
static const char report[] =
    "local url = ...\n"
    "local core = require 'lcm.core'\n"
    "local s = core.pool_stats()\n"
    "local tokens = require('lcm.retry').budget(500, url):tokens()\n"
    "return string.format('connections=%d pooled=%d temporary=%d budget_tokens=%d',\n"
    "                     s.connects, s.created, s.temporary, tokens)\n";

/* pbx_lua's load (and reload): extensions.lua runs once in a state of its own, without a
 * channel, then that state is closed. Here reading a channel variable then is an error. */
static const char no_channel[] =
    "channel = setmetatable({}, { __index = function(_, name)\n"
    "  error('extensions.lua read ' .. name .. ' at load time: there is no channel', 2)\n"
    "end })\n"
    "app = setmetatable({}, { __index = function() return function() end end })\n";

static int load_extensions(void)
{
    lua_State *L = luaL_newstate();
    int ok;
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    ok = run(L, no_channel, sizeof no_channel - 1, "=pbx_lua", 0, 0) &&
         luaL_loadfile(L, "examples/asterisk/extensions.lua") == LUA_OK && lua_pcall(L, 0, 0, 0) == LUA_OK;
    if (!ok)
        fprintf(stderr, "lcm-embed: loading extensions.lua: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return ok;
}

/* The connections this process has opened so far (the pool's count). */
static long connects(void)
{
    static const char chunk[] = "return require('lcm.core').pool_stats().connects";
    long n = -1;
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    if (run(L, chunk, sizeof chunk - 1, "=connects", 0, 1))
        n = (long)lua_tonumber(L, -1);
    lua_close(L);
    return n;
}

/* See --fork above. 0 when both calls were made and OK. */
static int fork_calls(worker_t *w)
{
    long before = connects(), child_opened = -1;
    int status = 0, fd[2];
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    if (pipe(fd) != 0 || (pid = fork()) < 0)
        return 1;
    if (pid == 0) {
        close(fd[0]);
        w->id = 0;
        w->ok = 0;
        w->out_len = 0;
        one_call(w, 1);
        child_opened = connects() - before;
        if (write(fd[1], &child_opened, sizeof child_opened) != (ssize_t)sizeof child_opened)
            _exit(1);
        fwrite(w->out, 1, w->out_len, stdout);
        fflush(stdout);
        _exit(w->ok == 1 ? 0 : 1);
    }
    close(fd[1]);
    if (read(fd[0], &child_opened, sizeof child_opened) != (ssize_t)sizeof child_opened)
        child_opened = -1;
    close(fd[0]);
    waitpid(pid, &status, 0);
    w->id = 0;
    w->ok = 0;
    w->out_len = 0;
    one_call(w, 2);
    fwrite(w->out, 1, w->out_len, stdout);
    fflush(stdout);
    fprintf(stderr, "lcm-embed: fork_child=%ld fork_parent=%ld\n", child_opened, connects() - before);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && w->ok == 1 ? 0 : 1;
}

static const char stats_text[] = "return 'lcm.stats_text():\\n' .. require('lcm').stats_text()";

/* Runs chunk (given url) in a fresh state and prints the string it returns to `to`. */
static void print_report(const char *chunk, size_t len, const char *url, FILE *to)
{
    lua_State *L = luaL_newstate();
    if (L == NULL)
        abort();
    luaL_openlibs(L);
    lua_pushstring(L, url);
    if (run(L, chunk, len, "=report", 1, 1))
        fprintf(to, "lcm-embed: %s\n", lua_tostring(L, -1));
    else
        fprintf(stderr, "lcm-embed: report: %s\n", lua_tostring(L, -1));
    lua_close(L);
}

__attribute__((visibility("default"))) int lcm_embed_main(int argc, char **argv);

int lcm_embed_main(int argc, char **argv)
{
    int threads = 4, calls = 10, asterisk = 0, tasks = 0, no_share = 0, do_fork = 0, do_stats = 0, max_total = 0, i, ok = 0,
        failed = 0, raised = 0;
    const char *url = NULL, *outbox = NULL, *ca_file = NULL;
    pthread_t *tids;
    worker_t *ws;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (strcmp(a, "--no-share") == 0 || strcmp(a, "--fork") == 0 || strcmp(a, "--stats") == 0) {
            no_share |= strcmp(a, "--no-share") == 0;
            do_fork |= strcmp(a, "--fork") == 0;
            do_stats |= strcmp(a, "--stats") == 0;
            continue;
        }
        i++;
        if (strcmp(a, "--mode") == 0) {
            asterisk = strcmp(v, "asterisk") == 0;
            tasks = strcmp(v, "tasks") == 0;
        }
        else if (strcmp(a, "--threads") == 0)
            threads = atoi(v);
        else if (strcmp(a, "--calls") == 0)
            calls = atoi(v);
        else if (strcmp(a, "--url") == 0)
            url = v;
        else if (strcmp(a, "--outbox") == 0)
            outbox = v;
        else if (strcmp(a, "--ca-file") == 0)
            ca_file = v;
        else if (strcmp(a, "--max-total") == 0)
            max_total = atoi(v);
        else
            url = NULL, i = argc;
    }
    if (url == NULL || outbox == NULL || threads < 1 || calls < 1) {
        fprintf(stderr, "usage: lcm-embed --mode freeswitch|asterisk|tasks --threads N --calls M --url URL "
                        "--outbox DIR [--no-share] [--ca-file PEM] [--max-total N] [--fork] [--stats]\n");
        return 2;
    }
    if (asterisk && !load_extensions())
        return 1;
    tids = calloc((size_t)threads, sizeof *tids);
    ws = calloc((size_t)threads, sizeof *ws);
    if (tids == NULL || ws == NULL)
        return 1;
    for (i = 0; i < threads; i++) {
        ws[i].id = i + 1;
        ws[i].calls = calls;
        ws[i].asterisk = asterisk;
        ws[i].tasks = tasks;
        ws[i].no_share = no_share;
        ws[i].url = url;
        ws[i].outbox = outbox;
        ws[i].ca_file = ca_file;
        ws[i].max_total = max_total;
        if (pthread_create(&tids[i], NULL, worker, &ws[i]) != 0)
            return 1;
    }
    for (i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        fwrite(ws[i].out, 1, ws[i].out_len, stdout);
        ok += ws[i].ok;
        failed += ws[i].failed;
        raised += ws[i].raised;
    }
    fflush(stdout);
    fprintf(stderr, "lcm-embed: %s mode, %d threads x %d calls: %d OK, %d failed with a result, %d raised\n",
            asterisk ? "asterisk" : tasks ? "tasks" : "freeswitch", threads, calls, ok, failed, raised);
    print_report(report, sizeof report - 1, url, stderr);
    if (do_stats) {
        print_report(stats_text, sizeof stats_text - 1, url, stdout);
        fflush(stdout);
    }
    if (do_fork && fork_calls(&ws[0]) != 0)
        raised++;
    for (i = 0; i < threads; i++)
        free(ws[i].out);
    free(tids);
    free(ws);
    return raised == 0 && ok + failed == threads * calls ? 0 : 1;
}
