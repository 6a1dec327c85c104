/* Text: the UTF-8 validator and the one check of text lcm sends (C's request writer and
 * the Lua layer's checks use it), and the excerpt of a server's text for a log line. */
#include <stdio.h>
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

void lcm_utf8_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"utf8_valid", codec_utf8_valid}, {"utf8_excerpt", codec_utf8_excerpt},
        {"text_problem", codec_text_problem}, {"printable", codec_printable}, {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
    lua_pushinteger(L, MAX_STRING);
    lua_setfield(L, -2, "MAX_STRING");
}
