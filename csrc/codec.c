/* Message encoding and answer classification. Requests are checked and written here in one
 * walk (a bad value is an `invalid` error naming its field, and nothing is sent; why not
 * lua-cjson: see out_t); answers are decoded by lua-cjson and mapped to either the answer's
 * `message` or one error object. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lcm.h"

#define MAX_DEPTH 16        /* request data: the documented messages are flat */
#define ANSWER_MAX_DEPTH 32 /* answers: deeper JSON is refused by the decoder itself */
#define MAX_SUBTOPIC 64

/* Upvalue 1 of answer: a private cjson.safe instance, so our depth settings never change
 * the host's own `require "cjson"`, nor its settings ours. */
#define CJSON_INSTANCE lua_upvalueindex(1)

/* The length of the valid UTF-8 character at s (before end), or 0 when there is none:
 * no overlong forms, surrogates or code points past U+10FFFF. */
static size_t utf8_char(const unsigned char *s, const unsigned char *end)
{
    unsigned c = *s, cp;
    size_t n, i;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
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
    for (i = 1; i <= n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n + 1;
}

int lcm_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    size_t n;
    for (; s < end; s += n)
        if ((n = utf8_char(s, end)) == 0)
            return 0;
    return 1;
}

/* 1 when the value at idx is lua-cjson's null (a NULL light userdata). */
static int is_json_null(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA && lua_touserdata(L, idx) == NULL;
}

/* A JSON null counts as absent (a serializer that writes every field sends
 * "errorType": null in a success): it is skipped, as a missing key would be. */
int lcm_getfield_ci(lua_State *L, int t, const char *name)
{
    t = t < 0 && t > LUA_REGISTRYINDEX ? lua_gettop(L) + t + 1 : t;
    lua_pushstring(L, name);
    lua_rawget(L, t);
    if (!lua_isnil(L, -1) && !is_json_null(L, -1))
        return lua_type(L, -1);
    lua_pop(L, 1);
    lua_pushnil(L);
    while (lua_next(L, t) != 0) {
        size_t len;
        const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
        if (key != NULL && len == strlen(name) && strncasecmp(key, name, len) == 0 && !is_json_null(L, -1)) {
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

/* No LCM field is near this; a longer string is a caller's bug (a whole file, a runaway
 * concatenation). The same limit for the typed calls and for call()'s free-form data. */
#define MAX_STRING (64 * 1024)

/* The one text check of lcm, for C (here) and for Lua (core.text_problem): NULL when s can
 * be sent, else what is wrong with it. */
static const char *text_problem(const char *s, size_t len)
{
    if (len > MAX_STRING)
        return "is longer than 65536 bytes";
    if (memchr(s, '\0', len) != NULL)
        return "contains a NUL byte";
    if (!lcm_utf8_valid(s, len))
        return "is not valid UTF-8";
    return NULL;
}

static int check_string(lua_State *L, int idx, path_t *p)
{
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    const char *why = text_problem(s, len);
    return why == NULL ? 1 : invalid(L, p, why);
}

/* The request writer. lua-cjson is not used to encode requests, because it is wrong for us:
 * - Debian's lua-cjson 2.1.0 prints every number with "%.14g" and refuses a precision above
 *   14, so the outcome 123456789012345 goes out as 1.2345678901234e+14 (= 123456789012340)
 *   and LCM records another outcome than the one the script set;
 * - it writes object keys in hash order, which differs between Lua 5.1-5.4 and LuaJIT;
 * - a cjson build's number output and limits differ from build to build.
 * The check of every value (an `invalid` error naming its path, nothing sent) and the writing
 * are one walk. Answers are still decoded by lua-cjson (a private instance). */
typedef struct {
    lua_State *L;
    int slot; /* stack index that anchors the buffer once it outgrew `first` */
    char *s;
    size_t len, cap;
    char first[1024];
} out_t;

/* Grows into a userdata owned by Lua: a memory error raised here leaks nothing. */
static void out_add(out_t *o, const char *s, size_t n)
{
    if (n > o->cap - o->len) {
        size_t cap = o->cap;
        char *buf;
        while (n > cap - o->len) {
            if (cap > ((size_t)-1) / 2)
                luaL_error(o->L, "lcm: request too large");
            cap *= 2;
        }
        buf = lua_newuserdata(o->L, cap);
        memcpy(buf, o->s, o->len);
        lua_replace(o->L, o->slot);
        o->s = buf;
        o->cap = cap;
    }
    memcpy(o->s + o->len, s, n);
    o->len += n;
}

#define out_lit(o, lit) out_add((o), (lit), sizeof(lit) - 1)

/* RFC 8259: '"', '\\' and the control characters escaped; valid UTF-8 (checked) as is. */
static void out_string(out_t *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, from = 0;
    out_lit(o, "\"");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            char e[6] = {'\\', (char)c, 0, 0, 0, 0};
            out_add(o, s + from, i - from);
            if (c < 0x20) {
                e[1] = 'u';
                e[2] = e[3] = '0';
                e[4] = hex[c >> 4];
                e[5] = hex[c & 15];
                out_add(o, e, 6);
            } else {
                out_add(o, e, 2);
            }
            from = i + 1;
        }
    }
    out_add(o, s + from, len - from);
    out_lit(o, "\"");
}

/* The shortest of %.15g, %.16g, %.17g that reads back as d. printf and strtod both follow
 * LC_NUMERIC (a host may have set "de_DE": "0,1"), so the round trip is checked in the
 * host's locale and the decimal point, whatever bytes it is, then written as '.'. */
static size_t format_double(char *out, double d)
{
    char tmp[64];
    const char *s;
    size_t n = 0;
    int prec;
    for (prec = 15; prec < 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    if (prec == 17)
        snprintf(tmp, sizeof tmp, "%.17g", d);
    for (s = tmp; *s != '\0';) {
        if ((*s >= '0' && *s <= '9') || *s == '-' || *s == '+' || *s == 'e') {
            out[n++] = *s++;
        } else {
            out[n++] = '.';
            while (*s != '\0' && !((*s >= '0' && *s <= '9') || *s == 'e'))
                s++;
        }
    }
    return n;
}

#define TWO_63 9223372036854775808.0

/* Integers (a 5.3+ integer, or a float with an integral value in the range of long long) as
 * exact decimal integers: 123456789012345 on every Lua version, 2.0 as "2". Other finite
 * numbers as their shortest round-trip form. -0.0 stays "-0", which reads back as -0.0. */
static void out_number(out_t *o, lua_State *L, int idx)
{
    char buf[64];
    int n;
    double d;
#if LUA_VERSION_NUM >= 503
    if (lua_isinteger(L, idx)) {
        n = snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, idx));
        out_add(o, buf, (size_t)n);
        return;
    }
#endif
    d = (double)lua_tonumber(L, idx);
    if (d == floor(d) && d >= -TWO_63 && d < TWO_63 && !(d == 0 && signbit(d))) {
        n = snprintf(buf, sizeof buf, "%lld", (long long)d);
        out_add(o, buf, (size_t)n);
    } else {
        out_add(o, buf, format_double(buf, d));
    }
}

/* Leaves only the error (on top) above base: the walk's failure exit at every level. */
static int failed(lua_State *L, int base)
{
    if (lua_gettop(L) > base + 1) {
        lua_replace(L, base + 1);
        lua_settop(L, base + 1);
    }
    return 0;
}

typedef struct {
    const char *s;
    size_t len;
} name_t;

static int key_cmp(const void *a, const void *b)
{
    const name_t *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int write_value(lua_State *L, out_t *o, int idx, int depth, path_t *p);

/* Checks the keys of the table at idx; counts them as array indexes or object keys. */
static int check_keys(lua_State *L, int idx, path_t *p, size_t *items, size_t *names)
{
    size_t n = lua_rawlen(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            if (!check_string(L, lua_gettop(L), p))
                return 0;
            (*names)++;
        } else if (lua_type(L, -1) == LUA_TNUMBER) {
            lua_Number k = lua_tonumber(L, -1);
            if (k != floor(k) || k < 1 || k > (lua_Number)n)
                return invalid(L, p, "is a sparse or non-integer-keyed array");
            (*items)++;
        } else {
            return invalid(L, p, "has a key that is neither a string nor an index");
        }
        if (*items > 0 && *names > 0)
            return invalid(L, p, "mixes array items and object keys");
    }
    /* Every index is in 1..n and counted once: a hole means fewer than n. */
    if (*items != 0 && *items != n)
        return invalid(L, p, "is a sparse or non-integer-keyed array");
    return 1;
}

/* Writes the item or member on top of the stack (p ends in its name since mark), pops it
 * and cuts p back; on failure leaves the error on top instead. */
static int write_pushed(lua_State *L, out_t *o, int depth, path_t *p, size_t mark)
{
    int ok = write_value(L, o, lua_gettop(L), depth + 1, p);
    p->len = mark;
    p->s[mark] = '\0';
    if (ok)
        lua_pop(L, 1);
    return ok;
}

static int write_array(lua_State *L, out_t *o, int idx, int depth, path_t *p, size_t n)
{
    size_t i;
    out_lit(o, "[");
    for (i = 1; i <= n; i++) {
        size_t mark = path_push(p, NULL, (long long)i);
        if (i > 1)
            out_lit(o, ",");
        lua_rawgeti(L, idx, (lua_Integer)i);
        if (!write_pushed(L, o, depth, p, mark))
            return 0;
    }
    out_lit(o, "]");
    return 1;
}

/* Keys in byte order, so the bytes do not depend on the Lua version's hash order. The
 * key strings stay alive: the table being written holds them. */
static int write_object(lua_State *L, out_t *o, int idx, int depth, path_t *p, size_t n)
{
    name_t *keys = lua_newuserdata(L, n * sizeof *keys);
    size_t i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0 && i < n) {
        lua_pop(L, 1);
        keys[i].s = lua_tolstring(L, -1, &keys[i].len);
        i++;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    out_lit(o, "{");
    for (i = 0; i < n; i++) {
        size_t mark = path_push(p, keys[i].s, 0);
        if (i > 0)
            out_lit(o, ",");
        out_string(o, keys[i].s, keys[i].len);
        out_lit(o, ":");
        lua_pushlstring(L, keys[i].s, keys[i].len);
        lua_rawget(L, idx);
        if (!write_pushed(L, o, depth, p, mark))
            return 0;
    }
    out_lit(o, "}");
    lua_pop(L, 1);
    return 1;
}

/* Writes the value at idx and returns 1; else leaves an invalid error on top of what was
 * the stack at the call and returns 0. */
static int write_value(lua_State *L, out_t *o, int idx, int depth, path_t *p)
{
    int base = lua_gettop(L);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        if (!check_string(L, idx, p))
            return 0;
        out_string(o, s, len);
        return 1;
    }
    case LUA_TBOOLEAN:
        if (lua_toboolean(L, idx))
            out_lit(o, "true");
        else
            out_lit(o, "false");
        return 1;
    case LUA_TNUMBER:
        if (!isfinite((double)lua_tonumber(L, idx)))
            return invalid(L, p, "must be a finite number");
        out_number(o, L, idx);
        return 1;
    case LUA_TLIGHTUSERDATA: /* cjson.null */
        if (lua_touserdata(L, idx) != NULL)
            return invalid(L, p, "cannot be sent (userdata)");
        out_lit(o, "null");
        return 1;
    case LUA_TTABLE: {
        size_t items = 0, names = 0;
        if (depth >= MAX_DEPTH || !lua_checkstack(L, 8))
            return invalid(L, p, "is nested too deeply");
        if (!check_keys(L, idx, p, &items, &names))
            return failed(L, base);
        if (items > 0 ? !write_array(L, o, idx, depth, p, items) : !write_object(L, o, idx, depth, p, names))
            return failed(L, base);
        return 1;
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

/* core.encode(subtopic, source, data) -> json | nil, err
 * The envelope's keys in the documented order, data's keys sorted. */
static int codec_encode(lua_State *L)
{
    path_t p;
    out_t o;
    size_t len;
    const char *s;
    lua_settop(L, 3);
    if (!check_name(L, 1, "subtopic", 1) || !check_name(L, 2, "source", 0))
        return lcm_error_return(L);
    p.len = 0;
    path_push(&p, "data", 0);
    if (lua_type(L, 3) != LUA_TTABLE) {
        invalid(L, &p, "must be a table");
        return lcm_error_return(L);
    }
    lua_pushnil(L); /* slot 4: the buffer, once it is a userdata */
    o.L = L;
    o.slot = 4;
    o.s = o.first;
    o.len = 0;
    o.cap = sizeof o.first;
    out_lit(&o, "{\"channel\":\"LCM\",\"topic\":\"WebService\",\"subtopic\":");
    s = lua_tolstring(L, 1, &len);
    out_string(&o, s, len);
    out_lit(&o, ",\"source\":");
    s = lua_tolstring(L, 2, &len);
    out_string(&o, s, len);
    out_lit(&o, ",\"data\":");
    if (!write_value(L, &o, 3, 0, &p))
        return lcm_error_return(L);
    out_lit(&o, "}");
    lua_pushlstring(L, o.s, o.len);
    return 1;
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
 * ignoring case; a cjson.null is absent. The Lua layer reads answers with the same lookup. */
static int codec_field(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lcm_getfield_ci(L, 1, luaL_checkstring(L, 2));
    return 1;
}

/* core.text_problem(s) -> nil when s can be sent as text, else why not ("contains a NUL
 * byte", "is not valid UTF-8"): the Lua layer's check of text is this one. */
static int codec_text_problem(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *why = text_problem(s, len);
    if (why == NULL)
        lua_pushnil(L);
    else
        lua_pushstring(L, why);
    return 1;
}

static int codec_utf8_valid(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_pushboolean(L, lcm_utf8_valid(s, len));
    return 1;
}

/* core.utf8_excerpt(s, max) -> the start of s as valid UTF-8 of at most max bytes: cut at
 * a character boundary, each byte that is not part of a valid character replaced by
 * U+FFFD. For showing a server's text (err.body) in a log line. */
static int codec_utf8_excerpt(lua_State *L)
{
    size_t len, max, used = 0, n;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len), *end = s + len;
    luaL_Buffer b;
    max = (size_t)lcm_checkrange(L, 2, 0, 1 << 20);
    luaL_buffinit(L, &b);
    for (; s < end; s += n) {
        n = utf8_char(s, end);
        if (used + (n ? n : 3) > max)
            break;
        if (n == 0) {
            luaL_addlstring(&b, "\xEF\xBF\xBD", 3);
            n = 1;
            used += 3;
        } else {
            luaL_addlstring(&b, (const char *)s, n);
            used += n;
        }
    }
    luaL_pushresult(&b);
    return 1;
}

/* Pushes s as one printable line: a control character (C0, DEL, C1), a line/paragraph
 * separator (U+2028/9) or a bidi override/isolate (U+202A-E, U+2066-9: they reorder what a
 * log reader sees) becomes an escape (\n, \r, \t, \xHH, \u0085), a byte that is not
 * valid UTF-8 becomes \xHH. A backslash is kept as it is, so escaping twice changes
 * nothing: tostring(err) may be given text that was escaped already. For the server's
 * words in a log line, which must not forge the next one. */
void lcm_push_printable(lua_State *L, const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str, *end = s + len;
    char esc[8];
    size_t n;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (; s < end; s += n) {
        unsigned cp = 0;
        n = utf8_char(s, end);
        if (n == 1 && *s >= 0x20 && *s != 0x7F) {
            luaL_addchar(&b, (char)*s);
            continue;
        }
        if (n == 2)
            cp = ((unsigned)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        else if (n == 3)
            cp = ((unsigned)(s[0] & 0x0F) << 12) | ((unsigned)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (n > 1 && !(cp >= 0x80 && cp <= 0x9F) && cp != 0x2028 && cp != 0x2029 && !(cp >= 0x202A && cp <= 0x202E) &&
            !(cp >= 0x2066 && cp <= 0x2069)) {
            luaL_addlstring(&b, (const char *)s, n);
            continue;
        }
        if (n > 1)
            snprintf(esc, sizeof esc, "\\u%04X", cp);
        else if (*s == '\n' || *s == '\r' || *s == '\t')
            snprintf(esc, sizeof esc, "\\%c", *s == '\n' ? 'n' : *s == '\r' ? 'r' : 't');
        else
            snprintf(esc, sizeof esc, "\\x%02X", (unsigned)*s);
        if (n == 0)
            n = 1;
        luaL_addstring(&b, esc);
    }
    luaL_pushresult(&b);
}

/* core.printable(s) -> s as one printable line (see lcm_push_printable). */
static int codec_printable(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lcm_push_printable(L, s, len);
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
    /* encode and answer share upvalue 1, the private cjson instance; the rest need none */
    static const luaL_Reg fns[] = {{"encode", codec_encode}, {"answer", codec_answer}, {NULL, NULL}};
    static const luaL_Reg plain[] = {
        {"utf8_valid", codec_utf8_valid}, {"utf8_excerpt", codec_utf8_excerpt},
        {"text_problem", codec_text_problem}, {"field", codec_field}, {"printable", codec_printable},
        {NULL, NULL},
    };
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
    lua_pushinteger(L, MAX_STRING);
    lua_setfield(L, -2, "MAX_STRING");
}
