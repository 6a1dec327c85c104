/* Internal interface between the C files of lcm.core. Only luaopen_lcm_core
 * is exported from the shared object (see LCM_EXPORT and -fvisibility=hidden). */
#ifndef LCM_H
#define LCM_H

#include <stddef.h>
#include "compat.h"

#define LCM_EXPORT __attribute__((visibility("default")))

LCM_EXPORT int luaopen_lcm_core(lua_State *L);

/* Each C file registers its functions into the module table at the top of the stack. */
void lcm_error_open(lua_State *L);
void lcm_codec_open(lua_State *L);
void lcm_http_open(lua_State *L);
void lcm_clock_open(lua_State *L);
void lcm_random_open(lua_State *L);
void lcm_outbox_open(lua_State *L);

/* Pushes a new error object {kind=, code=, message=, retryable=false}; code may be NULL.
 * Further fields are set by the caller with lua_setfield. */
void lcm_error_push(lua_State *L, const char *kind, const char *code, const char *message);

/* Returns nil, err: the convention of every runtime failure. Expects the error on top. */
int lcm_error_return(lua_State *L);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int lcm_utf8_valid(const char *s, size_t len);

/* Registers the metatable `name` with these methods as __index and gc as __gc. */
void lcm_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* Keeps the shared object that holds addr mapped for the life of the process, even when
 * a Lua state's close dlcloses it. */
void lcm_pin(const void *addr);

/* luaL_checknumber, and an argument error unless lo <= n <= hi (NaN is outside): a number
 * checked with this can be cast to an integer type holding hi without undefined behaviour. */
lua_Number lcm_checkrange(lua_State *L, int arg, int lo, int hi);

/* Pushes t[name], falling back to a case-insensitive match on string keys:
 * the vendor's answers spell the same key several ways (OutComeID, OutcomeId...). */
int lcm_getfield_ci(lua_State *L, int t, const char *name);

#endif
