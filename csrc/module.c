/* Helpers of the module's C files: userdata classes, keeping the shared object mapped,
 * and numeric arguments checked before any cast. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>

#include "lcm.h"
#include "module.h"

void lcm_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

void lcm_pin(const void *addr)
{
    Dl_info info;
    if (dladdr(addr, &info) != 0 && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

int lcm_inrange(lua_State *L, int idx, int lo, int hi)
{
    lua_Number n = lua_tonumber(L, idx);
    return lua_type(L, idx) == LUA_TNUMBER && n >= lo && n <= hi; /* NaN fails both */
}

lua_Number lcm_checkrange(lua_State *L, int arg, int lo, int hi)
{
    lua_Number n = luaL_checknumber(L, arg);
    if (!lcm_inrange(L, arg, lo, hi))
        luaL_argerror(L, arg, lua_pushfstring(L, "out of range (%d..%d)", lo, hi));
    return n;
}
