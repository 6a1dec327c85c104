/* A threaded host that forks while its other threads use lcm.core's process-wide locks, for
 * spec/process_spec.lua: a fork taken while another thread holds the stats, budget or pool
 * lock must not leave the child a lock no thread will ever release (csrc/process.c).
 *
 *   fork_host FORKS
 * Three threads, each with its own Lua state, loop over core.stats_add, a shared budget's
 * take/refund, and core.pool_stats. The main thread forks FORKS times; each child uses the
 * three locks from its own fresh state and exits 0, under alarm(3): a child that hangs on
 * an inherited lock dies of SIGALRM. Prints "forks=N hung=H" (after the first hung child, it stops) and exits 0 when H is 0.
 * Built by the spec with the C compiler and pkg-config of the Lua under test. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

static volatile int stop; /* set once by main when the forks are done */

static const char *const loops[] = {
    "local core = require 'lcm.core'; return function() core.stats_add('fork_spec_total') end",
    "local core = require 'lcm.core'; local b = core.budget('http://127.0.0.1:9/', 10)\n"
    "return function() if b:take(1) then b:refund(1) end end",
    "local core = require 'lcm.core'; return function() core.pool_stats() end",
};

static lua_State *new_state(const char *chunk)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    if (luaL_dostring(L, chunk) != 0) {
        fprintf(stderr, "fork_host: %s\n", lua_tostring(L, -1));
        exit(2);
    }
    return L;
}

static void *worker(void *arg)
{
    lua_State *L = new_state(arg);
    while (!stop) {
        lua_pushvalue(L, -1);
        lua_call(L, 0, 0);
    }
    lua_close(L);
    return NULL;
}

int main(int argc, char **argv)
{
    int forks = argc > 1 ? atoi(argv[1]) : 200, hung = 0, done, i;
    pthread_t threads[3];
    lua_close(new_state("require 'lcm.core'")); /* loaded (and pinned) before the threads */
    for (i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, worker, (void *)loops[i]);
    for (i = 0; i < forks; i++) {
        int status;
        pid_t pid = fork();
        if (pid == 0) {
            alarm(3);
            for (int j = 0; j < 3; j++) {
                lua_State *L = new_state(loops[j]);
                lua_call(L, 0, 0);
            }
            _exit(0);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid)
            return 2;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
            hung++;
            break; /* one is the failure: no need to wait for more */
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return 2;
    }
    done = i < forks ? i + 1 : forks;
    stop = 1;
    for (i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    printf("forks=%d hung=%d\n", done, hung);
    return hung != 0;
}
