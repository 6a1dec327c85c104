/* lcm.core: the C half of lcm. The Lua module `lcm` (lua/lcm/init.lua) requires this
 * and builds the public API on top of it. Each C file adds its own functions. */
#include "lcm.h"
#include "pool.h"

#include <string.h>

#ifndef LCM_VERSION
#error "LCM_VERSION must be defined by the build (from the VERSION file)"
#endif

#ifdef LCM_EMBED_LUA
/* lua_chunks[]: the Lua layer (lua/lcm/, all but init.lua), by tools/embed_lua.lua, each
 * module in several forms next to each other: the bytecode of every VM this ABI serves
 * (lib/lua/5.1 is shared by PUC Lua 5.1 and LuaJIT, whose bytecodes differ), then the
 * source, which any build of the VM loads (a LuaJIT whose bytecode flavour differs). */
#include "lua_modules.h"

/* package.preload loader of the module whose first form is lua_chunks[upvalue 1]. Each VM
 * checks a chunk's header and refuses another VM's bytecode cheaply, so the forms are
 * tried in order: no guessing which VM this is. Records the form used in upvalue 2. */
static int load_embedded(lua_State *L)
{
    size_t first = (size_t)lua_tointeger(L, lua_upvalueindex(1));
    size_t i;
    for (i = first; lua_chunks[i].name != NULL && strcmp(lua_chunks[i].name, lua_chunks[first].name) == 0; i++) {
        if (luaL_loadbuffer(L, (const char *)lua_chunks[i].code, lua_chunks[i].len, lua_chunks[i].chunkname) == 0)
            break;
        if (lua_chunks[i + 1].name == NULL || strcmp(lua_chunks[i + 1].name, lua_chunks[first].name) != 0)
            return luaL_error(L, "lcm.core: no embedded form of %s loads in this Lua: %s", lua_chunks[first].name,
                              lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    lua_pushstring(L, lua_chunks[i].form);
    lua_setfield(L, lua_upvalueindex(2), lua_chunks[first].name);
    lua_pushvalue(L, 1); /* the module name, as require passes it to a loader */
    lua_call(L, 1, 1);
    return 1;
}

/* Makes require find the Lua layer in this module, without a path search or a parse.
 * A loader the host put in package.preload itself is left alone. Expects the table of
 * the forms used (see embedded) on top of the stack. */
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
        if (i > 0 && strcmp(lua_chunks[i].name, lua_chunks[i - 1].name) == 0)
            continue; /* another form of the module just registered */
        lua_getfield(L, -1, lua_chunks[i].name);
        if (lua_isnil(L, -1)) {
            lua_pushinteger(L, (lua_Integer)i);
            lua_pushvalue(L, -5);
            lua_pushcclosure(L, load_embedded, 2);
            lua_setfield(L, -3, lua_chunks[i].name);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 2);
}

/* core.embedded() -> { [module name] = Adler-32 of its source }, { [module name] = form
 * loaded in this state: "lua5.1", "luajit", "source"... }: lets a spec check that the
 * compiled copies are those of the sources in lua/lcm/ (a stale build would hide) and
 * that each VM loads its own bytecode. */
static int embedded(lua_State *L)
{
    size_t i;
    lua_newtable(L);
    for (i = 0; lua_chunks[i].name != NULL; i++) {
        lua_pushnumber(L, (lua_Number)lua_chunks[i].source_adler32);
        lua_setfield(L, -2, lua_chunks[i].name);
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    return 2;
}
#endif

LCM_EXPORT int luaopen_lcm_core(lua_State *L)
{
    lua_newtable(L);
#ifdef LCM_EMBED_LUA
    lua_newtable(L); /* the forms used, shared by the loaders and embedded */
    preload_embedded(L);
    lua_pushcclosure(L, embedded, 1);
    lua_setfield(L, -2, "embedded");
#endif
    lcm_process_open(L);
    lcm_error_open(L);
    lcm_utf8_open(L);
    lcm_encode_open(L);
    lcm_answer_open(L);
    lcm_records_open(L);
    lcm_http_open(L);
    lcm_engine_open(L);
    lcm_clock_open(L);
    lcm_random_open(L);
    lcm_outbox_open(L);
    lcm_stats_open(L);
    lcm_pool_open(L);
    lcm_budget_open(L);
    lcm_sandbox_open(L);
    lua_pushliteral(L, LCM_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
