/* csrc/utf8.c: text checks shared by the C files. */
#ifndef LCM_UTF8_H
#define LCM_UTF8_H

#include <stddef.h>

#include "compat.h"

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int lcm_utf8_valid(const char *s, size_t len);

/* NULL when s can be sent as text, else what is wrong with it ("contains a NUL byte"...). */
const char *lcm_text_problem(const char *s, size_t len);

/* Pushes str as one printable line: control characters, U+2028/9, bidi controls and
 * invalid UTF-8 escaped (tostring(err), core.printable). */
void lcm_push_printable(lua_State *L, const char *str, size_t len);

#endif
