-- Adler-32 of a string, in arithmetic only (Lua 5.1 has no bit operators). Used by
-- tools/embed_lua.lua to stamp each embedded module with its source, and by
-- spec/module_spec.lua to tell a stale build from a current one.
return function(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return b * 65536 + a
end
