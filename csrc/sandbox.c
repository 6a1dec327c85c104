/* core.read_config(text, chunkname, max_bytes, max_instructions): runs a config file's
 * chunk in a Lua state of its own and copies out its table of data (issue 16 item 9).
 * The state has no libraries (no string methods, no os, no io), an allocator that refuses
 * past max_bytes (a file doubling a string 33 times gets "not enough memory", not 8 GiB)
 * and a count hook past max_instructions; the caller's state is never reached, and the
 * answer holds only strings, numbers, booleans and flat tables of them. */
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "lcm.h"

typedef struct {
    size_t used, max;
} budget_t;

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    budget_t *b = ud;
    size_t old = ptr != NULL ? osize : 0; /* with ptr NULL, osize is a type tag */
    void *p;
    if (nsize == 0) {
        free(ptr);
        b->used -= old;
        return NULL;
    }
    if (nsize > old && nsize - old > b->max - b->used)
        return NULL; /* Lua raises its memory error in the sandbox's state */
    p = realloc(ptr, nsize);
    if (p != NULL)
        b->used = b->used - old + nsize;
    return p;
}

static void too_long(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "runs too long");
}

/* A value of the sandbox (at index i of S) that is data, pushed on L; else an error
 * message in `why`. depth 0: the value of an option; 1: an item of a table option. */
static int copy_value(lua_State *S, int i, lua_State *L, int depth, const char **why)
{
    size_t len;
    const char *s;
    switch (lua_type(S, i)) {
    case LUA_TSTRING:
        s = lua_tolstring(S, i, &len);
        lua_pushlstring(L, s, len);
        return 1;
    case LUA_TBOOLEAN:
        lua_pushboolean(L, lua_toboolean(S, i));
        return 1;
    case LUA_TNUMBER:
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(S, i)) {
            lua_pushinteger(L, lua_tointeger(S, i));
            return 1;
        }
#endif
        lua_pushnumber(L, lua_tonumber(S, i));
        return 1;
    case LUA_TTABLE:
        if (depth > 0) {
            *why = "a table in a table (options hold data: strings, numbers, booleans, flat tables)";
            return 0;
        }
        lua_newtable(L);
        lua_pushnil(S);
        while (lua_next(S, i < 0 ? i - 1 : i) != 0) {
            int kt = lua_type(S, -2);
            if (kt != LUA_TSTRING && kt != LUA_TNUMBER) {
                *why = "a table key that is neither a string nor a number";
                return 0;
            }
            if (!copy_value(S, -2, L, 1, why) || !copy_value(S, -1, L, 1, why))
                return 0;
            lua_rawset(L, -3);
            lua_pop(S, 1);
        }
        return 1;
    default:
        *why = "a value that is not data (a function or userdata)";
        return 0;
    }
}

/* Protected on the caller's state, so that its memory error cannot leak the sandbox. */
static int copy_out(lua_State *L)
{
    lua_State *S = lua_touserdata(L, 1);
    const char *why = NULL;
    lua_settop(L, 0);
    lua_newtable(L);
    lua_pushnil(S);
    while (lua_next(S, -2) != 0) {
        if (lua_type(S, -2) != LUA_TSTRING) {
            lua_pushliteral(L, "an option name that is not a string");
            return 1;
        }
        lua_pushstring(L, lua_tostring(S, -2));
        if (!copy_value(S, -1, L, 0, &why)) {
            lua_pushfstring(L, "%s: %s", lua_tostring(S, -2), why);
            return 1;
        }
        lua_rawset(L, 1);
        lua_pop(S, 1);
    }
    return 1;
}

/* Returns the table, or nil, message, and "syntax" or "run" (what failed). */
static int read_config(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *name = luaL_checkstring(L, 2);
    lua_Number max_bytes = luaL_checknumber(L, 3);
    int max_instructions = (int)luaL_checkinteger(L, 4);
    budget_t b;
    lua_State *S;
    int rc;
    b.used = 0;
    b.max = max_bytes > 0 && max_bytes < (lua_Number)((size_t)-1 / 2) ? (size_t)max_bytes : 1024 * 1024;
    S = lua_newstate(limited_alloc, &b);
    if (S == NULL) { /* LuaJIT without GC64 on x86-64 takes no allocator: refuse, never go unbounded */
        lua_pushnil(L);
        lua_pushliteral(L, "no Lua state with a memory limit can be made here");
        lua_pushliteral(L, "run");
        return 3;
    }
    if (len > 0 && text[0] == 27) {
        lua_close(S);
        lua_pushnil(L);
        lua_pushliteral(L, "precompiled chunks are not accepted");
        lua_pushliteral(L, "syntax");
        return 3;
    }
    rc = luaL_loadbuffer(S, text, len, name);
    if (rc == 0) {
        lua_sethook(S, too_long, LUA_MASKCOUNT, max_instructions > 0 ? max_instructions : 1);
        rc = lua_pcall(S, 0, 1, 0);
        if (rc == 0 && lua_type(S, -1) != LUA_TTABLE) {
            lua_close(S);
            lua_pushnil(L);
            lua_pushliteral(L, "must be a table of lcm.new options");
            lua_pushliteral(L, "run");
            return 3;
        }
        if (rc == 0) {
            lua_pushcfunction(L, copy_out);
            lua_pushlightuserdata(L, S);
            rc = lua_pcall(L, 1, 1, 0);
            lua_close(S);
            if (rc != 0)
                return lua_error(L); /* the caller's own memory error, the sandbox freed */
            if (lua_type(L, -1) == LUA_TSTRING) {
                lua_pushnil(L);
                lua_insert(L, -2);
                lua_pushliteral(L, "run");
                return 3;
            }
            return 1;
        }
    }
    lua_pushnil(L);
    if (rc == LUA_ERRMEM)
        lua_pushliteral(L, "uses too much memory");
    else
        lua_pushstring(L, lua_isstring(S, -1) ? lua_tostring(S, -1) : "error");
    lua_pushstring(L, rc == LUA_ERRSYNTAX ? "syntax" : "run");
    lua_close(S);
    return 3;
}

void lcm_sandbox_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"read_config", read_config}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
