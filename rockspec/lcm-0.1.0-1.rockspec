-- Template: `make rockspec` writes rockspec/lcm-0.1.0-1.rockspec from this file with the
-- version in VERSION. Edit this file, not the generated one (make lint checks they agree).
rockspec_format = "3.0"
package = "lcm"
version = "0.1.0-1"
source = {
   -- Not yet published: lcm.example is a placeholder (RFC 2606) for the release tarball's
   -- address, to be set when there is one. Until then `luarocks make` from a clone is the
   -- supported way (README, "Installing"): it builds the working tree and ignores this.
   url = "https://lcm.example/releases/lcm-0.1.0.tar.gz",
   dir = "lcm-0.1.0",
}
description = {
   summary = "LCM WebService (List and Campaign Manager) client for dialer, Asterisk and FreeSWITCH scripts",
   detailed = [[
      Get the business outcomes of a call and set its business and telephony outcome,
      with one error model, retries and a local simulator. C core on libcurl.
   ]],
   license = "MIT",
   labels = { "telephony", "asterisk", "freeswitch", "http" },
}
-- getrandom, flock, O_DIRECTORY, dladdr.
supported_platforms = { "linux" }
dependencies = {
   "lua >= 5.1, < 5.5",
   "lua-cjson >= 2.1.0",
}
external_dependencies = {
   -- By library only: Debian keeps curl/curl.h in a multiarch include directory that
   -- the compiler searches but the header probe of luarocks does not.
   CURL = { library = "curl" },
   ZLIB = { library = "z" },
}
-- One build recipe, the Makefile's: the same core.so as `make` (defines, hidden symbols,
-- the embedded Lua layer), built under build/rock-<version>, installed by `make install`
-- into the directories of the rock. LUA_VERSION=auto asks the interpreter luarocks uses.
-- Not the simulator: `make install-sim` or the lcm-sim Debian package.
build = {
   type = "make",
   build_target = "module",
   build_variables = {
      LUA_VERSION = "auto",
      LUA = "$(LUA)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      CFLAGS = "$(CFLAGS)",
   },
   install_variables = {
      LUA_VERSION = "auto",
      LUA = "$(LUA)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      CFLAGS = "$(CFLAGS)",
      PREFIX = "$(PREFIX)",
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
      INST_BINDIR = "$(BINDIR)",
   },
}
test_dependencies = { "busted" }
test = { type = "busted" }
