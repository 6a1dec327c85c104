/* csrc/utf8.c: text checks shared by the C files. */
#ifndef LCM_UTF8_H
#define LCM_UTF8_H

#include <stddef.h>

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int lcm_utf8_valid(const char *s, size_t len);

/* NULL when s can be sent as text, else what is wrong with it ("contains a NUL byte"...). */
const char *lcm_text_problem(const char *s, size_t len);

#endif
