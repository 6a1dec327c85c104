/* lcm.core: the C half of lcm. The Lua module `lcm` (lua/lcm/init.lua) requires this
 * and builds the public API on top of it. Each C file adds its own functions. */
#include "lcm.h"

#ifndef LCM_VERSION
#error "LCM_VERSION must be defined by the build (from the VERSION file)"
#endif

#ifdef LCM_EMBED_LUA
/* lua_chunks[]: the Lua layer (lua/lcm/, all but init.lua) as bytecode, by tools/embed_lua.lua */
#include "lua_modules.h"

/* package.preload loader of the embedded chunk number upvalue 1. */
static int load_embedded(lua_State *L)
{
    size_t i = (size_t)lua_tointeger(L, lua_upvalueindex(1));
    if (luaL_loadbuffer(L, (const char *)lua_chunks[i].code, lua_chunks[i].len, lua_chunks[i].chunkname) != 0)
        return lua_error(L);
    lua_pushvalue(L, 1); /* the module name, as require passes it to a loader */
    lua_call(L, 1, 1);
    return 1;
}

/* Makes require find the Lua layer in this module, without a path search or a parse.
 * A loader the host put in package.preload itself is left alone. */
static void preload_embedded(lua_State *L)
{
    size_t i;
    lua_getglobal(L, "package");
    if (!lua_istable(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    lua_getfield(L, -1, "preload");
    for (i = 0; lua_istable(L, -1) && lua_chunks[i].name != NULL; i++) {
        lua_getfield(L, -1, lua_chunks[i].name);
        if (lua_isnil(L, -1)) {
            lua_pushinteger(L, (lua_Integer)i);
            lua_pushcclosure(L, load_embedded, 1);
            lua_setfield(L, -3, lua_chunks[i].name);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

/* core.embedded() -> { [module name] = Adler-32 of its source }: lets a spec check that
 * the compiled copies are those of the sources in lua/lcm/ (a stale build would hide). */
static int embedded(lua_State *L)
{
    size_t i;
    lua_newtable(L);
    for (i = 0; lua_chunks[i].name != NULL; i++) {
        lua_pushnumber(L, (lua_Number)lua_chunks[i].source_adler32);
        lua_setfield(L, -2, lua_chunks[i].name);
    }
    return 1;
}
#endif

LCM_EXPORT int luaopen_lcm_core(lua_State *L)
{
#ifdef LCM_EMBED_LUA
    preload_embedded(L);
#endif
    lua_newtable(L);
#ifdef LCM_EMBED_LUA
    lua_pushcfunction(L, embedded);
    lua_setfield(L, -2, "embedded");
#endif
    lcm_error_open(L);
    lcm_codec_open(L);
    lcm_http_open(L);
    lcm_sys_open(L);
    lcm_outbox_open(L);
    lcm_pool_open(L);
    lcm_budget_open(L);
    lua_pushliteral(L, LCM_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
