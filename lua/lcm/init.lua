-- lcm: the public module is lua/lcm/public.lua, carried as bytecode in lcm.core with the rest
-- of the Lua layer (Makefile, LUA_MODULES): a fresh Lua state (FreeSWITCH, pbx_lua: one per
-- call) parses these two lines from source, not the whole module. `make install` puts this
-- file on the path as lcm.lua.
require "lcm.core"
return require "lcm.public"
