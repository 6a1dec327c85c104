/* What every C file of lcm.core shares: the Lua API (compat.h), the one exported symbol
 * (luaopen_lcm_core; the rest is hidden by -fvisibility=hidden) and the functions that
 * register each file's part of the module. What one file offers the others is in its own
 * header (error.h, module.h, clock.h, process.h, pool.h, utf8.h, answer.h). */
#ifndef LCM_H
#define LCM_H

#include <stddef.h>
#include "compat.h"

#define LCM_EXPORT __attribute__((visibility("default")))

/* The longest subtopic lcm sends or counts (the vendor's longest is 33 bytes). */
#define LCM_MAX_SUBTOPIC 64

LCM_EXPORT int luaopen_lcm_core(lua_State *L);

/* Each C file registers its functions into the module table at the top of the stack. */
void lcm_error_open(lua_State *L);
void lcm_utf8_open(lua_State *L);
void lcm_encode_open(lua_State *L);
void lcm_answer_open(lua_State *L);
void lcm_http_open(lua_State *L);
void lcm_engine_open(lua_State *L);
void lcm_clock_open(lua_State *L);
void lcm_random_open(lua_State *L);
void lcm_outbox_open(lua_State *L);
void lcm_stats_open(lua_State *L);
void lcm_pool_open(lua_State *L);
void lcm_budget_open(lua_State *L);
void lcm_process_open(lua_State *L);
void lcm_records_open(lua_State *L);
void lcm_sandbox_open(lua_State *L);

#endif
