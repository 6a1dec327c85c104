/* Answers: decoded by a private lua-cjson instance and mapped to either the answer's
 * `message` or one error object; and the case-insensitive key lookup every reader of an
 * answer uses (the vendor spells one key several ways). */
#include <string.h>
#include <strings.h>

#include "lcm.h"
#include "answer.h"
#include "error.h"
#include "module.h"

#define ANSWER_MAX_DEPTH 32 /* answers: deeper JSON is refused by the decoder itself */

/* Upvalue 1 of answer: a private cjson.safe instance, so our depth settings never change
 * the host's own `require "cjson"`, nor its settings ours. */
#define CJSON_INSTANCE lua_upvalueindex(1)

/* 1 when the value at idx is lua-cjson's null (a NULL light userdata). */
static int is_json_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* A JSON null counts as absent (a serializer that writes every field sends "errorType":
 * null in a success): it is skipped as a missing key would be, so a null under one
 * spelling does not hide a value under another. */
int lcm_getfield_ci_at(lua_State *L, int t, int k)
{
    size_t want;
    const char *name;
    t = t < 0 && t > LUA_REGISTRYINDEX ? lua_gettop(L) + t + 1 : t;
    k = k < 0 && k > LUA_REGISTRYINDEX ? lua_gettop(L) + k + 1 : k;
    name = lua_tolstring(L, k, &want);
    lua_pushvalue(L, k);
    lua_rawget(L, t);
    if (!lua_isnil(L, -1) && !is_json_null(L, -1))
        return lua_type(L, -1);
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        size_t len;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        if (key != NULL && len == want && strncasecmp(key, name, len) == 0 && !is_json_null(L, -1)) {
            lua_remove(L, -2);
            return lua_type(L, -1);
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return LUA_TNIL;
}

int lcm_getfield_ci(lua_State *L, int t, const char *name)
{
    int type;
    t = t < 0 && t > LUA_REGISTRYINDEX ? lua_gettop(L) + t + 1 : t;
    lua_pushstring(L, name);
    type = lcm_getfield_ci_at(L, t, -1);
    lua_remove(L, -2);
    return type;
}

/* 1 when the value on top is the string want (ignoring case when ci is set), compared by
 * length: a Lua string may hold a NUL, and "LCM\0junk" is not "LCM". */
static int top_is(lua_State *L, const char *want, int ci)
{
    size_t len, n = strlen(want);
    const char *s;
    if (lua_type(L, -1) != LUA_TSTRING)
        return 0;
    s = lua_tolstring(L, -1, &len);
    return len == n && (ci ? strncasecmp(s, want, n) : memcmp(s, want, n)) == 0;
}

/* Pushes the error of an error envelope ({topic:"Error"} or an errorType under data or
 * message) and returns 1; returns 0 with the stack unchanged when t is not one. */
static int push_lcm_error(lua_State *L, int t)
{
    static const char *const parts[] = {"data", "message", NULL};
    int found = 0, details = 0, i;
    lcm_getfield_ci(L, t, "topic");
    found = top_is(L, "error", 1);
    lua_pop(L, 1);
    for (i = 0; parts[i] != NULL && details == 0; i++) {
        if (lcm_getfield_ci(L, t, parts[i]) == LUA_TTABLE) {
            if (lcm_getfield_ci(L, -1, "errorType") != LUA_TNIL) {
                found = details = lua_gettop(L) - 1;
                lua_pop(L, 1);
                continue;
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    if (!found)
        return 0;
    lcm_error_push(L, "lcm", NULL, "LCM error");
    if (details) {
        static const char *const map[][2] = {{"errorType", "code"}, {"msg", "message"}, {"errorMessage", "detail"}};
        for (i = 0; i < 3; i++) {
            if (lcm_getfield_ci(L, details, map[i][0]) == LUA_TSTRING)
                lua_setfield(L, -2, map[i][1]);
            else
                lua_pop(L, 1);
        }
        lua_remove(L, details);
    }
    lua_getfield(L, -1, "code");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        if (lcm_getfield_ci(L, t, "subtopic") != LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushliteral(L, "ERROR");
        }
        lua_setfield(L, -2, "code");
    } else {
        lua_pop(L, 1);
    }
    return 1;
}

static int protocol_error(lua_State *L, const char *code, const char *message)
{
    lcm_error_push(L, "protocol", code, message);
    return lcm_error_return(L);
}

/* core.answer(body, status, expected_subtopic|nil) -> message | nil, err
 * Order matters: an LCM error body wins over the HTTP status (the server says why), and a
 * non-2xx status wins over a body we cannot read (the status says more than garbage). */
static int codec_answer(lua_State *L)
{
    size_t len;
    const char *body = luaL_checklstring(L, 1, &len);
    long status = (long)lcm_checkrange(L, 2, 0, 999);
    const char *expect = luaL_optstring(L, 3, NULL);
    const char *first = body;
    int decoded;

    while (first < body + len && (*first == ' ' || *first == '\t' || *first == '\r' || *first == '\n'))
        first++;
    lua_settop(L, 3);
    lua_getfield(L, CJSON_INSTANCE, "decode");
    lua_pushvalue(L, 1);
    lua_call(L, 1, 2);
    decoded = lua_type(L, 4) == LUA_TTABLE && first < body + len && *first == '{';
    if (decoded && push_lcm_error(L, 4)) {
        lua_pushinteger(L, (lua_Integer)status);
        lua_setfield(L, -2, "status");
        return lcm_error_return(L);
    }
    if (status < 200 || status > 299) {
        lcm_error_push(L, "http", NULL, lua_pushfstring(L, "unexpected HTTP status %d", (int)status));
        lua_remove(L, -2);
        lua_pushinteger(L, (lua_Integer)status);
        lua_setfield(L, -2, "status");
        return lcm_error_return(L);
    }
    if (lua_isnil(L, 4)) {
        const char *why = lua_tostring(L, 5);
        int deep = why != NULL && strstr(why, "nested") != NULL; /* cjson's depth limit */
        lua_pushfstring(L, "the answer is not JSON: %s", why ? why : "empty");
        return protocol_error(L, deep ? "TOO_DEEP" : "BAD_JSON", lua_tostring(L, -1));
    }
    if (!decoded)
        return protocol_error(L, "NOT_OBJECT", "the answer is JSON but not an object");
    lcm_getfield_ci(L, 4, "channel");
    if (!top_is(L, "LCM", 0))
        return protocol_error(L, "BAD_CHANNEL", "the answer's channel is not LCM");
    lcm_getfield_ci(L, 4, "topic");
    if (!top_is(L, "WebService", 1))
        return protocol_error(L, "BAD_TOPIC", "the answer's topic is not WebService");
    if (expect != NULL && (lcm_getfield_ci(L, 4, "subtopic"), !top_is(L, expect, 1))) {
        lua_pushfstring(L, "expected an answer with subtopic %s", expect);
        return protocol_error(L, "BAD_SUBTOPIC", lua_tostring(L, -1));
    }
    if (lcm_getfield_ci(L, 4, "message") != LUA_TTABLE)
        return protocol_error(L, "BAD_MESSAGE", "the answer has no message object");
    return 1;
}

/* core.field(t, name) -> t[name], else the value of the first string key equal to name
 * ignoring case; nil for cjson.null. The Lua layer reads answers with the same lookup. */
static int codec_field(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lcm_getfield_ci(L, 1, luaL_checkstring(L, 2));
    return 1;
}

static void call_setting(lua_State *L, const char *name, int value)
{
    lua_getfield(L, -1, name);
    lua_pushinteger(L, value);
    lua_call(L, 1, 0);
}

void lcm_answer_open(lua_State *L)
{
    /* answer has upvalue 1, the private cjson instance; field needs none */
    static const luaL_Reg fns[] = {{"answer", codec_answer}, {NULL, NULL}};
    static const luaL_Reg plain[] = {{"field", codec_field}, {NULL, NULL}};
    lua_getglobal(L, "require");
    lua_pushliteral(L, "cjson.safe");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "new");
    /* lua-cjson, like this module, would otherwise be mapped and unmapped again for every
     * short-lived Lua state (FreeSWITCH: one per call). */
    if (lua_tocfunction(L, -1) != NULL)
        lcm_pin((const void *)(size_t)lua_tocfunction(L, -1));
    lua_call(L, 0, 1);
    lua_remove(L, -2);
    call_setting(L, "decode_max_depth", ANSWER_MAX_DEPTH);
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");
    luaL_setfuncs(L, fns, 1);
    luaL_setfuncs(L, plain, 0);
}
