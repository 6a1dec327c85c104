/* The one error model: plain tables sharing a metatable, so Lua code can read
 * err.kind / err.code / err.retryable and print them with tostring(err). C never decides
 * retryable (false until lua/lcm/policy.lua says otherwise). */
#include <stdio.h>
#include <string.h>

#include "lcm.h"
#include "utf8.h"
#include "error.h"

#define LCM_ERROR_MT "lcm.error"

static const char *const kinds[] = {
    "invalid", "transport", "timeout", "http", "protocol", "lcm", "rejected", "outbox", NULL,
};

void lcm_error_push(lua_State *L, const char *kind, const char *code, const char *message)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    if (code != NULL) {
        lua_pushstring(L, code);
        lua_setfield(L, -2, "code");
    }
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "retryable");
    luaL_setmetatable(L, LCM_ERROR_MT);
}

int lcm_error_return(lua_State *L)
{
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
}

/* Appends t[name] when it is a string (made printable: see lcm_push_printable) or a number.
 * Numbers are printed by hand so that 5.1 ("3") and 5.3+ ("3" for integers) give the same line; only a number inside the range
 * of long long is converted to one (outside it, or NaN, the cast is undefined). */
static int add_field(lua_State *L, luaL_Buffer *b, int t, const char *name, const char *fmt)
{
    char num[64];
    const char *s = NULL;
    int type;
    lua_pushstring(L, name);
    lua_rawget(L, t);
    type = lua_type(L, -1);
    if (type == LUA_TSTRING) {
        /* A field may hold the server's words (code, message, detail): escaped, so
         * tostring(err) stays one line whatever was sent. The field itself is kept. */
        size_t len;
        s = lua_tolstring(L, -1, &len);
        lcm_push_printable(L, s, len);
        lua_remove(L, -2);
        s = lua_tostring(L, -1);
    } else if (type == LUA_TNUMBER) {
        lua_Number n = lua_tonumber(L, -1);
        if (n >= -9223372036854775807.0 && n < 9223372036854775807.0 && n == (lua_Number)(long long)n)
            snprintf(num, sizeof num, "%lld", (long long)n);
        else
            snprintf(num, sizeof num, "%.14g", (double)n);
        s = num;
    }
    if (s != NULL) {
        /* s points into the value on the stack: format it into a new string, drop the
         * value, and hand the string to the buffer with the stack balanced as it requires. */
        lua_pushfstring(L, fmt, s);
        lua_remove(L, -2);
        luaL_addvalue(b);
        return 1;
    }
    lua_pop(L, 1);
    return 0;
}

/* 1 when t[name] is the string value. */
static int field_is(lua_State *L, int t, const char *name, const char *value)
{
    int is;
    lua_pushstring(L, name);
    lua_rawget(L, t);
    is = lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), value) == 0;
    lua_pop(L, 1);
    return is;
}

/* 1 when t[name] is true. */
static int field_true(lua_State *L, int t, const char *name)
{
    int is;
    lua_pushstring(L, name);
    lua_rawget(L, t);
    is = lua_type(L, -1) == LUA_TBOOLEAN && lua_toboolean(L, -1);
    lua_pop(L, 1);
    return is;
}

/* Why the retries stopped early ("; budget exhausted", "; deadline exceeded"), then what a
 * failed Set left behind: "; recorded: unknown" (LCM may have it), then "; queued" or
 * "; not queued: <why>" (a failed outbox write is never silent). */
static void add_outcome(lua_State *L, luaL_Buffer *b, int t)
{
    if (field_true(L, t, "budget_exhausted"))
        luaL_addstring(b, "; budget exhausted");
    if (field_true(L, t, "deadline_exceeded"))
        luaL_addstring(b, "; deadline exceeded");
    if (field_is(L, t, "recorded", "unknown"))
        luaL_addstring(b, "; recorded: unknown");
    lua_pushliteral(L, "queued");
    lua_rawget(L, t);
    if (lua_type(L, -1) == LUA_TBOOLEAN) {
        int queued = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (queued)
            luaL_addstring(b, "; queued");
        else if (!add_field(L, b, t, "outbox_error", "; not queued: %s"))
            luaL_addstring(b, "; not queued");
    } else {
        lua_pop(L, 1);
    }
}

/* One line, whatever the fields hold (their control characters are escaped):
 * "lcm: http error HTTP 503: unexpected HTTP status 503 [SetDNC] after 3 attempt(s);
 *  budget exhausted; recorded: unknown; queued" */
static int error_tostring(lua_State *L)
{
    luaL_Buffer b;
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "lcm:");
    add_field(L, &b, 1, "kind", " %s error");
    if (!add_field(L, &b, 1, "code", " %s"))
        add_field(L, &b, 1, "status", " HTTP %s");
    add_field(L, &b, 1, "message", ": %s");
    add_field(L, &b, 1, "detail", " (%s)");
    add_field(L, &b, 1, "subtopic", " [%s]");
    lua_pushliteral(L, "attempts");
    lua_rawget(L, 1);
    if (lua_type(L, -1) == LUA_TNUMBER && lua_tonumber(L, -1) == 0) {
        lua_pop(L, 1);
        luaL_addstring(&b, " (nothing sent)");
    } else {
        lua_pop(L, 1);
        add_field(L, &b, 1, "attempts", " after %s attempt(s)");
    }
    add_outcome(L, &b, 1);
    luaL_pushresult(&b);
    return 1;
}

/* core.error(t): makes t an error object (used by the Lua layer for its own errors). */
static int error_new(lua_State *L)
{
    const char *kind;
    int i, known = 0;
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_getfield(L, 1, "kind");
    kind = lua_tostring(L, -1);
    for (i = 0; kind != NULL && kinds[i] != NULL; i++)
        known |= strcmp(kind, kinds[i]) == 0;
    if (!known) {
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addstring(&b, "error kind must be one of");
        for (i = 0; kinds[i] != NULL; i++) {
            luaL_addstring(&b, i == 0 ? " " : ", ");
            luaL_addstring(&b, kinds[i]);
        }
        luaL_pushresult(&b);
        return luaL_argerror(L, 1, lua_tostring(L, -1));
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "message");
    if (lua_type(L, -1) != LUA_TSTRING) {
        lua_pushfstring(L, "%s error", kind);
        lua_setfield(L, 1, "message");
    }
    lua_pop(L, 1);
    lua_getfield(L, 1, "retryable");
    if (lua_isnil(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, 1, "retryable");
    }
    lua_pop(L, 1);
    luaL_setmetatable(L, LCM_ERROR_MT);
    return 1;
}

static int error_is(lua_State *L)
{
    int is = 0;
    if (lua_type(L, 1) == LUA_TTABLE && lua_getmetatable(L, 1)) {
        luaL_getmetatable(L, LCM_ERROR_MT);
        is = lua_rawequal(L, -1, -2);
    }
    lua_pushboolean(L, is);
    return 1;
}

void lcm_error_open(lua_State *L)
{
    static const luaL_Reg mt[] = {{"__tostring", error_tostring}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"error", error_new}, {"is_error", error_is}, {NULL, NULL}};
    luaL_newmetatable(L, LCM_ERROR_MT);
    luaL_setfuncs(L, mt, 0);
    lua_pushliteral(L, "lcm.error");
    lua_setfield(L, -2, "__name");
    lua_pop(L, 1);
    luaL_setfuncs(L, fns, 0);
}
