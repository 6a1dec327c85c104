/* csrc/module.c: helpers of every C file (userdata classes, pinning, argument ranges). */
#ifndef LCM_MODULE_H
#define LCM_MODULE_H

#include "compat.h"

/* Registers the metatable `name` with these methods as __index and gc as __gc. */
void lcm_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* Keeps the shared object that holds addr mapped for the life of the process, even when
 * a Lua state's close dlcloses it. */
void lcm_pin(const void *addr);

/* The one range test of the C files: 1 when the value at idx is a number from lo to hi
 * (NaN is outside), so it can be cast to an integer type holding hi without undefined
 * behaviour. lcm_checkrange raises an argument error naming the range otherwise (for
 * arguments the Lua layer has checked already: a bad one is a programming error). */
int lcm_inrange(lua_State *L, int idx, int lo, int hi);
lua_Number lcm_checkrange(lua_State *L, int arg, int lo, int hi);

#endif
