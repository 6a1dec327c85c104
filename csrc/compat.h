/* One place for the differences between Lua 5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1.
 * Everything else in csrc/ is written against the 5.2+ API. */
#ifndef LCM_COMPAT_H
#define LCM_COMPAT_H

#include <lua.h>
#include <lauxlib.h>

#if LUA_VERSION_NUM == 501
#if defined(LUAJIT_VERSION) || defined(luaL_newlib)
/* LuaJIT's headers declare 5.2 functions (luaL_setfuncs...) that PUC Lua 5.1 lacks: a module
 * built with them would not load in lua5.1, yet lib/lua/5.1 serves both VMs. */
#error "lcm: build the Lua 5.1 module against PUC Lua 5.1's headers (it serves LuaJIT too)"
#endif
#define lua_rawlen(L, i) lua_objlen((L), (i))
/* PUC 5.1 lacks these. */
#define luaL_newlibtable(L, l) lua_createtable((L), 0, (int)(sizeof(l) / sizeof((l)[0]) - 1))
#define luaL_newlib(L, l) (luaL_newlibtable((L), (l)), luaL_setfuncs((L), (l), 0))
static inline void luaL_setfuncs(lua_State *L, const luaL_Reg *l, int nup)
{
    luaL_checkstack(L, nup + 1, "too many upvalues");
    for (; l->name != NULL; l++) {
        int i;
        for (i = 0; i < nup; i++)
            lua_pushvalue(L, -nup);
        lua_pushcclosure(L, l->func, nup);
        lua_setfield(L, -(nup + 2), l->name);
    }
    lua_pop(L, nup);
}
static inline void luaL_setmetatable(lua_State *L, const char *tname)
{
    luaL_getmetatable(L, tname);
    lua_setmetatable(L, -2);
}
static inline void *luaL_testudata(lua_State *L, int ud, const char *tname)
{
    void *p = lua_touserdata(L, ud);
    if (p != NULL && lua_getmetatable(L, ud)) {
        luaL_getmetatable(L, tname);
        if (!lua_rawequal(L, -1, -2))
            p = NULL;
        lua_pop(L, 2);
        return p;
    }
    return NULL;
}
#elif LUA_VERSION_NUM == 502 || LUA_VERSION_NUM == 503 || LUA_VERSION_NUM == 504
/* The 5.2+ API is the one the sources use. */
#else
#error "lcm: unsupported Lua version (5.1, 5.2, 5.3, 5.4 and LuaJIT 2.1 are supported)"
#endif

#endif
