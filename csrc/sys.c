/* What plain Lua lacks and the Lua layer needs: sleeping, a monotonic clock for
 * deadlines, and randomness that is not math.random (hosts seed that, or don't, and
 * every process of a dialer would pick the same "random" backoff and keys). */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "lcm.h"

static int fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return 0;
        }
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* core.sleep(ms) */
static int sys_sleep(lua_State *L)
{
    lua_Number ms = luaL_checknumber(L, 1);
    struct timespec ts;
    if (!(ms > 0))
        return 0;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)((ms - (lua_Number)ts.tv_sec * 1000) * 1e6);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
    return 0;
}

/* core.monotonic_ms() */
static int sys_monotonic_ms(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec * 1000 + (lua_Number)ts.tv_nsec / 1e6);
    return 1;
}

/* core.random() -> a number in [0, 1) from the kernel's generator */
static int sys_random(lua_State *L)
{
    uint64_t r;
    if (!fill_random(&r, sizeof r))
        return luaL_error(L, "lcm: getrandom failed");
    lua_pushnumber(L, (lua_Number)(r >> 11) / 9007199254740992.0);
    return 1;
}

/* core.uuid() -> a random (version 4) UUID, used as the Idempotency-Key */
static int sys_uuid(lua_State *L)
{
    unsigned char b[16];
    char s[37];
    if (!fill_random(b, sizeof b))
        return luaL_error(L, "lcm: getrandom failed");
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    lua_pushstring(L, s);
    return 1;
}

void lcm_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_newtable(L);
    luaL_setfuncs(L, methods, 0);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
}

void lcm_pin(const void *addr)
{
    Dl_info info;
    if (dladdr(addr, &info) != 0 && info.dli_fname != NULL)
        dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

void lcm_sys_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"sleep", sys_sleep}, {"monotonic_ms", sys_monotonic_ms}, {"random", sys_random}, {"uuid", sys_uuid},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
