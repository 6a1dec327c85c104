/* Request encoding: the envelope and its data checked and written in one walk. A bad value
 * is an `invalid` error naming its field (`data.a.b[2]`), and nothing is sent; why not
 * lua-cjson: see out_t. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lcm.h"
#include "error.h"
#include "utf8.h"

#define MAX_DEPTH 16 /* request data: the documented messages are flat */

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
    const char *why = lcm_text_problem(s, len);
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
        if (len > LCM_MAX_SUBTOPIC)
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

void lcm_encode_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"encode", codec_encode}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
