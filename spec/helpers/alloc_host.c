/* A Lua host with a limited allocator, for spec/outbox_faults_spec.lua: it shows that an
 * out-of-memory error raised anywhere in lcm's outbox leaves no lock held and no file
 * descriptor open. The interpreter cannot do this: lua.c's allocator has no limit.
 * (LuaJIT's 64-bit builds refuse a custom allocator; the spec says so and skips.)
 *
 *   alloc_host script.lua [args...]
 * The script gets these globals:
 *   alloc_limit(n)  from now on, allocations that would take the state more than n bytes
 *                   above its current use fail; alloc_limit() removes the limit
 *   fd_count()      the number of open file descriptors of this process
 *   lock_free(path) true when an exclusive flock on path can be taken at once
 * Built by the spec with the C compiler and pkg-config of the Lua under test. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static size_t used, limit = SIZE_MAX; /* one Lua state per process: the test's own globals */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    size_t old = ptr != NULL ? osize : 0;
    void *p;
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        used -= old;
        return NULL;
    }
    if (nsize > old && used - old + nsize > limit)
        return NULL;
    p = realloc(ptr, nsize);
    if (p != NULL)
        used = used - old + nsize;
    return p;
}

static int alloc_limit(lua_State *L)
{
    limit = lua_isnoneornil(L, 1) ? SIZE_MAX : used + (size_t)luaL_checkinteger(L, 1);
    return 0;
}

static int fd_count(lua_State *L)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL)
        return luaL_error(L, "cannot open /proc/self/fd");
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    lua_pushinteger(L, n - 1); /* not the directory's own descriptor */
    return 1;
}

static int lock_free(lua_State *L)
{
    int fd = open(luaL_checkstring(L, 1), O_RDONLY | O_CLOEXEC), ok;
    if (fd < 0)
        return luaL_error(L, "cannot open %s", lua_tostring(L, 1));
    ok = flock(fd, LOCK_EX | LOCK_NB) == 0;
    close(fd);
    lua_pushboolean(L, ok);
    return 1;
}

int main(int argc, char **argv)
{
    lua_State *L = lua_newstate(limited_alloc, NULL);
    int i, rc;
    if (L == NULL || argc < 2) {
        fprintf(stderr, "alloc_host: %s\n", L == NULL ? "lua_newstate refused the allocator" : "usage: script");
        return 2;
    }
    luaL_openlibs(L);
    lua_register(L, "alloc_limit", alloc_limit);
    lua_register(L, "fd_count", fd_count);
    lua_register(L, "lock_free", lock_free);
    lua_newtable(L);
    for (i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_setglobal(L, "arg");
    rc = luaL_dofile(L, argv[1]);
    if (rc != 0)
        fprintf(stderr, "alloc_host: %s\n", lua_tostring(L, -1));
    lua_close(L);
    return rc != 0;
}
