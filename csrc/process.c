/* The process layer: what lcm.core sets up once per process, however many Lua states and
 * threads load it (FreeSWITCH and pbx_lua make a state per call, from many threads).
 *
 * Once (pthread_once): the module is pinned resident, because the fork handlers, the share
 * handle's lock functions (pool.c) and the process-wide counts (stats.c, budget.c) must
 * outlive the Lua state whose close would dlclose it; curl_global_init runs (it is not
 * thread-safe before libcurl 7.84, and it is reference counted, so a host's own call
 * before ours is fine); then the handle pool and its share handle are made.
 *
 * fork(): the child has only the forking thread, but a copy of every mutex, locked or not.
 * Every lock the module keeps is taken before the fork, in one fixed order, and released
 * after it in both processes (the usual atfork pattern): a fork while another thread
 * counts, takes a budget token or checks out a handle cannot leave the child a lock no
 * thread will ever release. No code path holds two of these locks at once, so the order
 * cannot deadlock with them. */
#include <pthread.h>

#include "lcm.h"
#include "module.h"
#include "pool.h"
#include "process.h"

/* Set once by init_once (pthread_once orders it before every read). */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static CURLcode curl_status = CURLE_FAILED_INIT;

static void fork_prepare(void)
{
    lcm_pool_fork(LCM_FORK_PREPARE);
    lcm_budget_fork(LCM_FORK_PREPARE);
    lcm_stats_fork(LCM_FORK_PREPARE);
}

static void fork_parent(void)
{
    lcm_stats_fork(LCM_FORK_PARENT);
    lcm_budget_fork(LCM_FORK_PARENT);
    lcm_pool_fork(LCM_FORK_PARENT);
}

static void fork_child(void)
{
    lcm_stats_fork(LCM_FORK_CHILD);
    lcm_budget_fork(LCM_FORK_CHILD);
    lcm_pool_fork(LCM_FORK_CHILD);
}

static void init_once(void)
{
    lcm_pin((const void *)(size_t)init_once);
    curl_status = curl_global_init(CURL_GLOBAL_DEFAULT);
    lcm_pool_init(curl_status == CURLE_OK);
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

CURLcode lcm_process_curl(void)
{
    pthread_once(&once, init_once);
    return curl_status;
}

void lcm_process_open(lua_State *L)
{
    lua_pushboolean(L, lcm_process_curl() == CURLE_OK); /* the handle pool (csrc/pool.c) */
    lua_setfield(L, -2, "shared_cache");
}
