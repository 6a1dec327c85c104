-- Turns a Lua file into a C array so lcm-sim carries its handler inside the binary.
-- A byte list, not a string literal: C99 compilers need not accept literals over 4095 bytes.
local path = assert(arg[1], "usage: lua embed.lua FILE.lua > out.h")
local f = assert(io.open(path, "rb"))
local src = f:read("*a")
f:close()
local out = { "/* generated from " .. path .. " by sim/embed.lua; do not edit */\n",
              "static const unsigned char sim_handler_lua[] = {\n" }
for i = 1, #src, 16 do
  local bytes = {}
  for j = i, math.min(i + 15, #src) do bytes[#bytes + 1] = string.format("%d", src:byte(j)) end
  out[#out + 1] = "  " .. table.concat(bytes, ", ") .. ",\n"
end
out[#out + 1] = "};\n"
io.write(table.concat(out))
