-- luacheck configuration: `make lint`.
std = "max"
max_line_length = 120
include_files = { "lua/**/*.lua", "spec/**/*.lua", "examples/**/*.lua", "sim/**/*.lua", "bench/**/*.lua", "bin/*",
                  ".luacheckrc", ".busted" }

files["spec"] = { std = "+busted" }
files["sim/handler.lua"] = { std = "lua54" }
-- The host objects the telephony servers provide to their scripts.
files["examples/asterisk"] = { read_globals = { "channel", "app" }, globals = { "extensions" } }
files["examples/freeswitch"] = { read_globals = { "session", "freeswitch", "argv" } }
