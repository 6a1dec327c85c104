/* Time for the Lua layer: sleeping between attempts and a monotonic clock for deadlines
 * (os.time has whole seconds and follows the wall clock). */
#include <errno.h>
#include <time.h>

#include "lcm.h"
#include "clock.h"
#include "module.h"

#define MAX_SLEEP_MS 86400000 /* a day: no wait of lcm is near it */

/* core.sleep(ms), 0 <= ms <= a day; anything else (NaN too) is an argument error. */
static int clock_sleep(lua_State *L)
{
    lua_Number ms = lcm_checkrange(L, 1, 0, MAX_SLEEP_MS);
    struct timespec ts;
    if (ms == 0)
        return 0;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (lua_Number)ts.tv_sec * 1000) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

double lcm_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* core.monotonic_ms() */
static int clock_monotonic_ms(lua_State *L)
{
    lua_pushnumber(L, (lua_Number)lcm_monotonic_ms());
    return 1;
}

void lcm_clock_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"sleep", clock_sleep}, {"monotonic_ms", clock_monotonic_ms}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
