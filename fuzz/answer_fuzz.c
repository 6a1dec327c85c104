/* libFuzzer target for the answer path: bytes -> JSON decode -> envelope checks -> error
 * mapping (core.answer), then the Lua readers of both answer shapes (answers.outcomes,
 * answers.set_result) and tostring of every error. The path must never raise: a Lua error
 * here is a bug, and the target aborts so that libFuzzer keeps the input.
 * Built and run by `make fuzz`, with lcm.core linked in and lua/ on package.path. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int luaopen_lcm_core(lua_State *L);

static lua_State *L; /* one state for the whole run: a fuzz harness, not the module */

static const char harness[] =
    "package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path\n"
    "local core = require 'lcm.core'\n"
    "local answers = require 'lcm.answers'\n"
    "local expected = { 'BusinessOutCome', 'SetBusinessOutcomeWithCallOutcomeResult', false }\n"
    "return function(body, status)\n"
    "  for _, expect in ipairs(expected) do\n"
    "    local message, err = core.answer(body, status, expect or nil)\n"
    "    if message then\n"
    "      local list, e1 = answers.outcomes(message)\n"
    "      if list then list:find(107) list:find('success') else err = e1 end\n"
    "      local ok, e2 = answers.set_result(message, '12345')\n"
    "      if not ok then err = e2 end\n"
    "    end\n"
    "    if err then\n"
    "      assert(core.is_error(err), 'not an error object')\n"
    "      assert(type(err.kind) == 'string' and type(err.message) == 'string')\n"
    "      assert(type(tostring(err)) == 'string')\n"
    "    end\n"
    "  end\n"
    "end\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_lcm_core);
    lua_setfield(L, -2, "lcm.core");
    lua_pop(L, 2);
    if (luaL_loadstring(L, harness) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
        fprintf(stderr, "answer_fuzz: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_setfield(L, LUA_REGISTRYINDEX, "answer_fuzz");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the HTTP status, so the status paths are explored too. */
    static const int statuses[] = {200, 200, 200, 201, 204, 302, 400, 404, 429, 500, 503};
    int status = size > 0 ? statuses[data[0] % (sizeof statuses / sizeof statuses[0])] : 200;
    lua_getfield(L, LUA_REGISTRYINDEX, "answer_fuzz");
    lua_pushlstring(L, (const char *)data + (size > 0), size - (size > 0));
    lua_pushinteger(L, status);
    if (lua_pcall(L, 2, 0, 0) != LUA_OK) {
        fprintf(stderr, "answer_fuzz: the answer path raised: %s\n", lua_tostring(L, -1));
        abort();
    }
    lua_settop(L, 0);
    /* Collect now: memory held as garbage across inputs would look like a leak to
     * libFuzzer, which would then turn its per-input leak check off. */
    lua_gc(L, LUA_GCCOLLECT, 0);
    return 0;
}
