/* Answer records: a wire list turned into Lua records, the per-record work of every list
 * answer (get_outcomes and the typed Gets). Written in C because it is the per-record
 * cost of a call: in Lua (lcm.answers' convert, a core.field call and a converter per
 * key) a record of 5 keys cost ~31k instructions; here it is a few thousand (make bench,
 * the 100- and 10,000-record rows). The rules are lcm.answers': keys are matched exactly,
 * then ignoring case (the vendor spells one key several ways); values are converted only
 * where that is lossless:
 *   int  "107" or 107.0 -> the integer 107 (|n| <= 2^53); anything else is kept as sent
 *   str  a string as is; a number as tostring(int(n)); anything else nil
 *   num  tonumber(v) when finite (an exact integer as an integer on 5.3+), else nil
 *   bool true/"true"/"True"/1/"1" -> true; false/"false"/"False"/0/"0" -> false; else nil
 * A converter may also be a Lua function, called with the wire value. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lcm.h"
#include "answer.h"
#include "error.h"

#define MAX_KEYS 64 /* keys of one record shape; lcm.api's largest has 13 */
#define MAX_ID_DIGITS "9007199254740992" /* 2^53: beyond it a JSON number is not exact */

enum conv { CONV_INT, CONV_STR, CONV_NUM, CONV_BOOL, CONV_FUNCTION };

static void push_integer(lua_State *L, lua_Number n)
{
#if LUA_VERSION_NUM >= 503
    lua_pushinteger(L, (lua_Integer)n);
#else
    lua_pushnumber(L, n);
#endif
}

/* 1 and the value pushed as an integer when the value at idx is an exact integer of at
 * most 2^53 (a number, or a decimal string "-?0*digits"); else 0, nothing pushed. */
static int push_exact_integer(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TSTRING) {
        size_t len, i = 0, start;
        const char *s = lua_tolstring(L, idx, &len);
        int negative = len > 0 && s[0] == '-';
        char digits[sizeof MAX_ID_DIGITS];
        lua_Number n;
        i = (size_t)negative;
        while (i + 1 < len && s[i] == '0')
            i++;
        start = i;
        for (; i < len; i++)
            if (s[i] < '0' || s[i] > '9')
                return 0;
        len -= start;
        if (len == 0 || len > sizeof MAX_ID_DIGITS - 1 ||
            (len == sizeof MAX_ID_DIGITS - 1 && memcmp(s + start, MAX_ID_DIGITS, len) > 0))
            return 0;
        memcpy(digits, s + start, len);
        digits[len] = '\0';
        n = 0;
        for (i = 0; i < len; i++)
            n = n * 10 + (digits[i] - '0'); /* exact: below 2^53 at every step */
        if (negative)
            n = -n;
        push_integer(L, n);
        return 1;
    }
    if (lua_type(L, idx) == LUA_TNUMBER) {
#if LUA_VERSION_NUM >= 503
        if (lua_isinteger(L, idx)) {
            lua_Integer v = lua_tointeger(L, idx);
            if (v > ((lua_Integer)1 << 53) || v < -((lua_Integer)1 << 53))
                return 0;
            lua_pushinteger(L, v);
            return 1;
        }
#endif
        {
            lua_Number n = lua_tonumber(L, idx);
            if (!(n >= -9007199254740992.0 && n <= 9007199254740992.0) || n != (lua_Number)(long long)n)
                return 0; /* NaN, too large, or a fraction */
            push_integer(L, n);
            return 1;
        }
    }
    return 0;
}

/* Pushes the value at idx converted by c (see the top of this file). */
static void convert(lua_State *L, int idx, enum conv c)
{
    int type = lua_type(L, idx);
    switch (c) {
    case CONV_INT:
        if (!push_exact_integer(L, idx))
            lua_pushvalue(L, idx);
        return;
    case CONV_STR:
        if (type == LUA_TSTRING) {
            lua_pushvalue(L, idx);
        } else if (type == LUA_TNUMBER) {
            if (!push_exact_integer(L, idx))
                lua_pushvalue(L, idx);
            lua_tolstring(L, -1, NULL); /* tostring's text for a number, in place */
        } else {
            lua_pushnil(L);
        }
        return;
    case CONV_NUM:
        if (type == LUA_TNUMBER) {
            lua_pushvalue(L, idx);
#if LUA_VERSION_NUM >= 503
        } else if (type == LUA_TSTRING && lua_stringtonumber(L, lua_tostring(L, idx)) != 0) {
            /* tonumber's conversion, integer subtype kept */
#else
        } else if (type == LUA_TSTRING && lua_isnumber(L, idx)) {
            lua_pushnumber(L, lua_tonumber(L, idx));
#endif
        } else {
            lua_pushnil(L);
            return;
        }
        {
            lua_Number n = lua_tonumber(L, -1);
            if (n != n || n == (lua_Number)HUGE_VAL || n == -(lua_Number)HUGE_VAL) {
                lua_pop(L, 1);
                lua_pushnil(L);
            }
#if LUA_VERSION_NUM >= 503
            else if (!lua_isinteger(L, -1) && n >= -9223372036854775808.0 && n < 9223372036854775808.0 &&
                     n == (lua_Number)(lua_Integer)n) {
                lua_pop(L, 1);
                lua_pushinteger(L, (lua_Integer)n); /* math.tointeger */
            }
#endif
        }
        return;
    case CONV_BOOL:
        if (type == LUA_TBOOLEAN) {
            lua_pushvalue(L, idx);
        } else if (type == LUA_TNUMBER && (lua_tonumber(L, idx) == 1 || lua_tonumber(L, idx) == 0)) {
            lua_pushboolean(L, lua_tonumber(L, idx) == 1);
        } else if (type == LUA_TSTRING) {
            const char *s = lua_tostring(L, idx);
            if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "1") == 0)
                lua_pushboolean(L, 1);
            else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "0") == 0)
                lua_pushboolean(L, 0);
            else
                lua_pushnil(L);
        } else {
            lua_pushnil(L);
        }
        return;
    case CONV_FUNCTION:
        break;
    }
}

/* The shape of a record, read from the spec table (arg) onto the stack: for key i, its
 * record key at base + 3i, wire key at base + 3i + 1, converter (a function, or nil for a
 * named one) at base + 3i + 2; the named converters in conv[]. Returns the number of keys. */
static int read_shape(lua_State *L, int arg, enum conv *conv)
{
    static const char *const names[] = {"int", "str", "num", "bool", NULL};
    int n = (int)lua_rawlen(L, arg), i, j;
    luaL_argcheck(L, n <= MAX_KEYS, arg, "too many keys");
    luaL_checkstack(L, 3 * n + 8, "record shape");
    for (i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        luaL_argcheck(L, lua_istable(L, -1), arg, "each key is { record key, wire key, converter }");
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        lua_rawgeti(L, -3, 3);
        luaL_argcheck(L, lua_type(L, -3) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING, arg,
                      "record and wire keys are strings");
        conv[i] = CONV_FUNCTION;
        if (lua_type(L, -1) == LUA_TSTRING) {
            for (j = 0; names[j] != NULL; j++)
                if (strcmp(lua_tostring(L, -1), names[j]) == 0)
                    conv[i] = (enum conv)j;
            luaL_argcheck(L, conv[i] != CONV_FUNCTION, arg, "converter is int, str, num, bool or a function");
            lua_pop(L, 1);
            lua_pushnil(L);
        } else {
            luaL_argcheck(L, lua_isfunction(L, -1), arg, "converter is int, str, num, bool or a function");
        }
        lua_remove(L, -4);
    }
    return n;
}

/* Pushes the record of the wire object at raw: { [record key] = converted value, raw = raw }. */
static void build(lua_State *L, int raw, int base, int n, const enum conv *conv)
{
    int i;
    lua_createtable(L, 0, n + 1);
    lua_pushvalue(L, raw);
    lua_setfield(L, -2, "raw");
    for (i = 0; i < n; i++) {
        int k = base + 3 * i;
        lcm_getfield_ci_at(L, raw, k + 1);
        if (conv[i] == CONV_FUNCTION) {
            lua_pushvalue(L, k + 2);
            lua_insert(L, -2);
            lua_call(L, 1, 1);
        } else {
            convert(L, lua_gettop(L), conv[i]);
            lua_remove(L, -2);
        }
        lua_pushvalue(L, k);
        lua_insert(L, -2);
        lua_rawset(L, -3);
    }
}

static int protocol(lua_State *L, const char *message)
{
    lcm_error_push(L, "protocol", "BAD_RESPONSE", message);
    return lcm_error_return(L);
}

/* The arguments of both functions: a table (1), the shape (2), top more; reads the shape
 * above them. Returns the number of keys, the shape's first stack slot in *base. */
static int arguments(lua_State *L, int top, enum conv *conv, int *base)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, top);
    *base = top + 1;
    return read_shape(L, 2, conv);
}

/* core.record(raw, shape) -> record: one wire object (a table) as a record. */
static int records_one(lua_State *L)
{
    enum conv conv[MAX_KEYS];
    int base, n = arguments(L, 2, conv, &base);
    build(L, 1, base, n, conv);
    return 1;
}

/* core.records(message, shape, mt) -> list | nil, err: message.response (or the message
 * itself when it is the list) as records with metatable mt. A response that is not a list
 * (a key other than 1..#response) or holds a non-object is a protocol error. */
static int records_list(lua_State *L)
{
    enum conv conv[MAX_KEYS];
    int base, list, response, n = arguments(L, 3, conv, &base);
    lua_Integer len, i;
    lua_pushliteral(L, "response");
    lcm_getfield_ci_at(L, 1, lua_gettop(L));
    lua_remove(L, -2);
    if (lua_isnil(L, -1)) {
        lua_rawgeti(L, 1, 1);
        if (!lua_isnil(L, -1)) {
            lua_pop(L, 2);
            lua_pushvalue(L, 1); /* the MCD answer: the message is the list */
        } else {
            lua_pop(L, 1);
        }
    }
    response = lua_gettop(L);
    if (!lua_istable(L, response))
        return protocol(L, "the answer's message.response is not a list");
    len = (lua_Integer)lua_rawlen(L, response);
    lua_pushnil(L);
    while (lua_next(L, response) != 0) {
        lua_Number k = lua_type(L, -2) == LUA_TNUMBER ? lua_tonumber(L, -2) : 0;
        lua_pop(L, 1);
        if (!(k >= 1 && k <= (lua_Number)len && k == (lua_Number)(lua_Integer)k))
            return protocol(L, "the answer's message.response is not a list");
    }
    lua_createtable(L, (int)len, 0);
    list = lua_gettop(L);
    if (!lua_isnil(L, 3)) {
        lua_pushvalue(L, 3);
        lua_setmetatable(L, list);
    }
    for (i = 1;; i++) {
        lua_rawgeti(L, response, (int)i);
        if (lua_isnil(L, -1))
            break;
        if (!lua_istable(L, -1)) {
            char message[64];
            snprintf(message, sizeof message, "record %lld is not an object", (long long)i);
            return protocol(L, message);
        }
        build(L, lua_gettop(L), base, n, conv);
        lua_rawseti(L, list, (int)i);
        lua_pop(L, 1);
    }
    lua_settop(L, list);
    return 1;
}

void lcm_records_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"records", records_list}, {"record", records_one}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
