-- busted's runner, found as a Lua module of the interpreter running this file: the
-- Makefile runs `$(LUA) tools/busted.lua`, whatever installed busted (Debian's lua-busted,
-- luarocks) and wherever its command is.
require "busted.runner" { standalone = false }
