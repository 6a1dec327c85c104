/* Randomness that is not math.random: hosts seed that, or don't, and every process of a
 * dialer would pick the same "random" backoff and Idempotency-Keys. The kernel's generator
 * only; a host that forbids getrandom (a seccomp filter) gets nil, err, not a raise. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "lcm.h"
#include "error.h"

/* Returns 0, or the errno of the failure. */
static int fill_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int no_random(lua_State *L, int err)
{
    lua_pushfstring(L, "the kernel refused randomness (getrandom: %s)", strerror(err));
    lcm_error_push(L, "transport", "NO_RANDOM", lua_tostring(L, -1));
    lua_remove(L, -2);
    return lcm_error_return(L);
}

/* core.random() -> a number in [0, 1) | nil, err */
static int random_number(lua_State *L)
{
    uint64_t r;
    int err = fill_random(&r, sizeof r);
    if (err != 0)
        return no_random(L, err);
    lua_pushnumber(L, (lua_Number)(r >> 11) / 9007199254740992.0);
    return 1;
}

/* core.uuid() -> a random (version 4) UUID, used as the Idempotency-Key | nil, err */
static int random_uuid(lua_State *L)
{
    unsigned char b[16];
    char s[37];
    int err = fill_random(b, sizeof b);
    if (err != 0)
        return no_random(L, err);
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
    lua_pushstring(L, s);
    return 1;
}

void lcm_random_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"random", random_number}, {"uuid", random_uuid}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
