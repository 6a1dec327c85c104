/* Message encoding and answer classification. JSON itself is lua-cjson's job: this file
 * checks what goes in (so a bad value is an `invalid` error naming its field and nothing is
 * sent) and maps whatever comes back to either the answer's `message` or one error object. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "lcm.h"

#define MAX_DEPTH 16        /* request data: the documented messages are flat */
#define ANSWER_MAX_DEPTH 32 /* answers: deeper JSON is refused by the decoder itself */
#define MAX_SUBTOPIC 64

/* Upvalue 1 of encode/answer: a private cjson.safe instance, so our depth and number
 * settings never change the host's own `require "cjson"`. */
#define CJSON_INSTANCE lua_upvalueindex(1)

int lcm_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    while (s < end) {
        unsigned c = *s;
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            s++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - s) <= n)
            return 0;
        for (size_t i = 1; i <= n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3F);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        s += n + 1;
    }
    return 1;
}

int lcm_getfield_ci(lua_State *L, int t, const char *name)
{
    t = t < 0 && t > LUA_REGISTRYINDEX ? lua_gettop(L) + t + 1 : t;
    lua_pushstring(L, name);
    lua_rawget(L, t);
    if (!lua_isnil(L, -1))
        return lua_type(L, -1);
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING && strcasecmp(lua_tostring(L, -2), name) == 0) {
            lua_remove(L, -2);
            return lua_type(L, -1);
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return LUA_TNIL;
}

/* The dotted path of the value being checked, for err.field ("data.AccountNumber"). */
typedef struct {
    char s[200];
    size_t len;
} path_t;

/* Appends ".key" (or "key" to an empty path) or "[i]"; returns the old length, to cut
 * back to once the value is checked. */
static size_t path_push(path_t *p, const char *key, long long idx)
{
    size_t old = p->len, room = sizeof p->s - p->len;
    int n = key ? snprintf(p->s + p->len, room, "%s%s", p->len ? "." : "", key)
                : snprintf(p->s + p->len, room, "[%lld]", idx);
    if (n > 0)
        p->len += (size_t)n < room ? (size_t)n : room - 1;
    return old;
}

static int invalid(lua_State *L, const path_t *p, const char *why)
{
    lua_pushfstring(L, "%s %s", p->s, why);
    lcm_error_push(L, "invalid", NULL, lua_tostring(L, -1));
    lua_remove(L, -2);
    lua_pushstring(L, p->s);
    lua_setfield(L, -2, "field");
    return 0;
}

static int check_string(lua_State *L, int idx, path_t *p)
{
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (memchr(s, '\0', len) != NULL)
        return invalid(L, p, "contains a NUL byte");
    if (!lcm_utf8_valid(s, len))
        return invalid(L, p, "is not valid UTF-8");
    return 1;
}

/* Returns 1 when the value at idx can be sent; else pushes an invalid error, returns 0. */
static int check_value(lua_State *L, int idx, int depth, path_t *p)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        return check_string(L, idx, p);
    case LUA_TBOOLEAN:
        return 1;
    case LUA_TNUMBER: {
        lua_Number n = lua_tonumber(L, idx);
        return isfinite((double)n) ? 1 : invalid(L, p, "must be a finite number");
    }
    case LUA_TLIGHTUSERDATA: /* cjson.null */
        return lua_touserdata(L, idx) == NULL ? 1 : invalid(L, p, "cannot be sent (userdata)");
    case LUA_TTABLE: {
        size_t n = lua_rawlen(L, idx);
        int strings = 0, numbers = 0;
        if (depth >= MAX_DEPTH)
            return invalid(L, p, "is nested too deeply");
        luaL_checkstack(L, 4, "lcm: data too deep");
        lua_pushnil(L);
        while (lua_next(L, idx) != 0) {
            size_t mark;
            int ok;
            if (lua_type(L, -2) == LUA_TSTRING) {
                strings = 1;
                if (!check_string(L, lua_gettop(L) - 1, p)) {
                    lua_remove(L, -2);
                    lua_remove(L, -2);
                    return 0;
                }
                mark = path_push(p, lua_tostring(L, -2), 0);
            } else if (lua_type(L, -2) == LUA_TNUMBER) {
                lua_Number k = lua_tonumber(L, -2);
                numbers = 1;
                if (k != floor(k) || k < 1 || k > (lua_Number)n) {
                    lua_pop(L, 2);
                    return invalid(L, p, "is a sparse or non-integer-keyed array");
                }
                mark = path_push(p, NULL, (long long)k);
            } else {
                lua_pop(L, 2);
                return invalid(L, p, "has a key that is neither a string nor an index");
            }
            ok = check_value(L, lua_gettop(L), depth + 1, p);
            p->len = mark;
            p->s[mark] = '\0';
            if (!ok) {
                lua_remove(L, -2); /* value */
                lua_remove(L, -2); /* key */
                return 0;
            }
            lua_pop(L, 1);
        }
        return strings && numbers ? invalid(L, p, "mixes array items and object keys") : 1;
    }
    default: {
        char why[64];
        snprintf(why, sizeof why, "cannot be sent (%s)", luaL_typename(L, idx));
        return invalid(L, p, why);
    }
    }
}

static int check_name(lua_State *L, int idx, const char *field, int subtopic)
{
    size_t len = 0, i;
    const char *s;
    path_t p;
    p.len = 0;
    path_push(&p, field, 0);
    /* The type first: lua_tolstring would turn a number into a string in place. */
    if (lua_type(L, idx) != LUA_TSTRING || (s = lua_tolstring(L, idx, &len), len == 0))
        return invalid(L, &p, "must be a non-empty string");
    if (subtopic) {
        /* It may be placed in the URL ({subtopic}), so only a name's characters. */
        if (len > MAX_SUBTOPIC)
            return invalid(L, &p, "is too long");
        for (i = 0; i < len; i++)
            if (!(s[i] == '_' || (s[i] >= '0' && s[i] <= '9') || ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
                return invalid(L, &p, "must contain only letters, digits and '_'");
        return 1;
    }
    return check_string(L, idx, &p);
}

/* core.encode(subtopic, source, data) -> json | nil, err */
static int codec_encode(lua_State *L)
{
    path_t p;
    lua_settop(L, 3);
    if (!check_name(L, 1, "subtopic", 1) || !check_name(L, 2, "source", 0))
        return lcm_error_return(L);
    p.len = 0;
    path_push(&p, "data", 0);
    if (lua_type(L, 3) != LUA_TTABLE) {
        invalid(L, &p, "must be a table");
        return lcm_error_return(L);
    }
    if (!check_value(L, 3, 0, &p))
        return lcm_error_return(L);

    lua_getfield(L, CJSON_INSTANCE, "encode");
    lua_createtable(L, 0, 5);
    lua_pushliteral(L, "LCM");
    lua_setfield(L, -2, "channel");
    lua_pushliteral(L, "WebService");
    lua_setfield(L, -2, "topic");
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "subtopic");
    lua_pushvalue(L, 2);
    lua_setfield(L, -2, "source");
    lua_pushvalue(L, 3);
    lua_setfield(L, -2, "data");
    lua_call(L, 1, 2);
    if (lua_isnil(L, -2)) {
        char why[160];
        snprintf(why, sizeof why, "cannot be encoded: %s", lua_tostring(L, -1));
        invalid(L, &p, why);
        return lcm_error_return(L);
    }
    lua_pop(L, 1);
    return 1;
}

static int is_retryable_status(long status)
{
    return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

/* Pushes the error of an error envelope ({topic:"Error"} or an errorType under data or
 * message) and returns 1; returns 0 with the stack unchanged when t is not one. */
static int push_lcm_error(lua_State *L, int t)
{
    static const char *const parts[] = {"data", "message", NULL};
    int found = 0, details = 0, i;
    if (lcm_getfield_ci(L, t, "topic") == LUA_TSTRING && strcasecmp(lua_tostring(L, -1), "error") == 0)
        found = 1;
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
    long status = (long)luaL_checknumber(L, 2);
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
        lua_pushboolean(L, is_retryable_status(status));
        lua_setfield(L, -2, "retryable");
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
    if (lcm_getfield_ci(L, 4, "channel") != LUA_TSTRING || strcmp(lua_tostring(L, -1), "LCM") != 0)
        return protocol_error(L, "BAD_CHANNEL", "the answer's channel is not LCM");
    if (lcm_getfield_ci(L, 4, "topic") != LUA_TSTRING || strcasecmp(lua_tostring(L, -1), "WebService") != 0)
        return protocol_error(L, "BAD_TOPIC", "the answer's topic is not WebService");
    if (expect != NULL &&
        (lcm_getfield_ci(L, 4, "subtopic") != LUA_TSTRING || strcasecmp(lua_tostring(L, -1), expect) != 0)) {
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
    if (lua_type(L, -1) == LUA_TLIGHTUSERDATA && lua_touserdata(L, -1) == NULL)
        lua_pushnil(L);
    return 1;
}

static int codec_utf8_valid(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, lcm_utf8_valid(s, len));
    return 1;
}

static void call_setting(lua_State *L, const char *name, int value)
{
    lua_getfield(L, -1, name);
    lua_pushinteger(L, value);
    lua_call(L, 1, 0);
}

void lcm_codec_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"encode", codec_encode}, {"answer", codec_answer}, {NULL, NULL}};
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
    call_setting(L, "encode_max_depth", MAX_DEPTH + 2);
    lua_getfield(L, -1, "decode_invalid_numbers");
    lua_pushboolean(L, 0);
    lua_call(L, 1, 0);
    lua_getfield(L, -1, "null");
    lua_setfield(L, -3, "null");
    luaL_setfuncs(L, fns, 1);
    lua_pushcfunction(L, codec_utf8_valid);
    lua_setfield(L, -2, "utf8_valid");
    lua_pushcfunction(L, codec_field);
    lua_setfield(L, -2, "field");
}
