-- Template: `make rockspec` writes rockspec/lcm-0.1.0-1.rockspec from this file with the
-- version in VERSION. Edit this file, not the generated one (make lint checks they agree).
rockspec_format = "3.0"
package = "lcm"
version = "0.1.0-1"
source = {
   -- luarocks make builds from the working tree; a release would point at its tarball.
   url = "git+file:///lcm",
   tag = "v0.1.0",
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
build = {
   type = "builtin",
   modules = {
      ["lcm"] = "lua/lcm/init.lua",
      ["lcm.api"] = "lua/lcm/api.lua",
      ["lcm.check"] = "lua/lcm/check.lua",
      ["lcm.cli"] = "lua/lcm/cli.lua",
      ["lcm.client"] = "lua/lcm/client.lua",
      ["lcm.config"] = "lua/lcm/config.lua",
      ["lcm.dates"] = "lua/lcm/dates.lua",
      ["lcm.outbox"] = "lua/lcm/outbox.lua",
      ["lcm.outcomes"] = "lua/lcm/outcomes.lua",
      ["lcm.retry"] = "lua/lcm/retry.lua",
      ["lcm.sim"] = "lua/lcm/sim.lua",
      ["lcm.suggest"] = "lua/lcm/suggest.lua",
      ["lcm.core"] = {
         sources = { "csrc/core.c", "csrc/codec.c", "csrc/error.c", "csrc/http.c", "csrc/outbox.c", "csrc/sys.c" },
         defines = { 'LCM_VERSION="0.1.0"', "_DEFAULT_SOURCE" },
         incdirs = { "csrc", "$(CURL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)" },
         libraries = { "curl", "z", "dl", "pthread" },
      },
   },
   install = { bin = { lcm = "bin/lcm", ["lcm-flush-outbox"] = "bin/lcm-flush-outbox" } },
}
test_dependencies = { "busted" }
test = { type = "busted" }
