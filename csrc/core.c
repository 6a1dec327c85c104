/* lcm.core: the C half of lcm. The Lua module `lcm` (lua/lcm/init.lua) requires this
 * and builds the public API on top of it. Each C file adds its own functions. */
#include "lcm.h"

#ifndef LCM_VERSION
#error "LCM_VERSION must be defined by the build (from the VERSION file)"
#endif

LCM_EXPORT int luaopen_lcm_core(lua_State *L)
{
    lua_newtable(L);
    lcm_error_open(L);
    lcm_codec_open(L);
    lcm_http_open(L);
    lcm_sys_open(L);
    lcm_outbox_open(L);
    lua_pushliteral(L, LCM_VERSION);
    lua_setfield(L, -2, "_VERSION");
    return 1;
}
