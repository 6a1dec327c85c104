/* Text: the UTF-8 validator and the one check of text lcm sends (C's request writer and
 * the Lua layer's checks use it), and the excerpt of a server's text for a log line. */
#include <string.h>

#include "lcm.h"
#include "module.h"
#include "utf8.h"

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

/* No LCM field is near this; a longer string is a caller's bug (a whole file, a runaway
 * concatenation). The same limit for the typed calls and for call()'s free-form data. */
#define MAX_STRING (64 * 1024) /* also core.MAX_STRING */

/* The one text check of lcm, for C (the request writer) and for Lua (core.text_problem): NULL when s can
 * be sent, else what is wrong with it. */
const char *lcm_text_problem(const char *s, size_t len)
{
    if (len > MAX_STRING)
        return "is longer than 65536 bytes";
    if (memchr(s, '\0', len) != NULL)
        return "contains a NUL byte";
    if (!lcm_utf8_valid(s, len))
        return "is not valid UTF-8";
    return NULL;
}

/* core.text_problem(s) -> nil when s can be sent as text, else why not ("contains a NUL
 * byte", "is not valid UTF-8"): the Lua layer's check of text is this one. */
static int codec_text_problem(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *why = lcm_text_problem(s, len);
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

void lcm_utf8_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"utf8_valid", codec_utf8_valid}, {"utf8_excerpt", codec_utf8_excerpt},
        {"text_problem", codec_text_problem}, {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
    lua_pushinteger(L, MAX_STRING);
    lua_setfield(L, -2, "MAX_STRING");
}
