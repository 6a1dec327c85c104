/* Retry budgets shared by the whole process: one token bucket per target (scheme://host:port)
 * and capacity, used by every client in every Lua state and thread. FreeSWITCH and pbx_lua
 * make a new Lua state, and so a new client, for every call: a bucket per client would start
 * full on every call and never stop the retries of an outage. The policy (what a retry
 * costs, what a success gives back) is lcm/retry.lua's; this file only keeps the count.
 *
 * Clients of one target that ask for different capacities get different buckets: a client's
 * retry_budget always means what it says, and the clients of one configuration (all the
 * calls of a PBX) share one. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lcm.h"
#include "module.h"
#include "pool.h"
#include "process.h"

#define LCM_BUDGET_MT "lcm.budget"
#define KEEP_BUCKETS 256 /* past this, full buckets no client holds are forgotten */
#define MAX_TOKENS 1000000000 /* the C bound; the Lua layer allows up to 1000000 */

typedef struct bucket {
    char *target; /* NULL: a private bucket, not in the list */
    double capacity, tokens;
    long refs;
    struct bucket *next;
} bucket_t;

/* Process-wide by design (see above), guarded by budget_lock. */
static pthread_mutex_t budget_lock = PTHREAD_MUTEX_INITIALIZER;
static bucket_t *buckets;
static size_t n_buckets;

/* fork() (csrc/process.c): a child keeps its parent's counts, but must not inherit a lock
 * held by a thread it does not have. */
void lcm_budget_fork(lcm_fork_t phase)
{
    if (phase == LCM_FORK_PREPARE)
        pthread_mutex_lock(&budget_lock);
    else
        pthread_mutex_unlock(&budget_lock);
}

/* A full bucket no client holds forgets nothing when it goes: a new one would start full. */
static void forget_one(void)
{
    bucket_t **pp;
    for (pp = &buckets; *pp != NULL; pp = &(*pp)->next) {
        bucket_t *b = *pp;
        if (b->refs == 0 && b->tokens >= b->capacity) {
            *pp = b->next;
            free(b->target);
            free(b);
            n_buckets--;
            return;
        }
    }
}

/* The bucket of target and capacity, made when missing; NULL when out of memory. */
static bucket_t *find(const char *target, double capacity)
{
    bucket_t *b;
    for (b = buckets; b != NULL; b = b->next)
        if (b->capacity == capacity && strcmp(b->target, target) == 0)
            break;
    if (b == NULL) {
        if (n_buckets >= KEEP_BUCKETS)
            forget_one();
        if ((b = calloc(1, sizeof *b)) == NULL || (b->target = strdup(target)) == NULL) {
            free(b);
            return NULL;
        }
        b->capacity = b->tokens = capacity;
        b->next = buckets;
        buckets = b;
        n_buckets++;
    }
    b->refs++;
    return b;
}

static bucket_t **check(lua_State *L)
{
    bucket_t **ud = luaL_checkudata(L, 1, LCM_BUDGET_MT);
    if (*ud == NULL)
        luaL_argerror(L, 1, "the budget is closed");
    return ud;
}

static double check_amount(lua_State *L)
{
    return (double)lcm_checkrange(L, 2, 0, MAX_TOKENS);
}

/* budget:take(n) -> true, when n tokens were there (and are now taken), else false. */
static int budget_take(lua_State *L)
{
    bucket_t *b = *check(L);
    double n = check_amount(L);
    int ok;
    pthread_mutex_lock(&budget_lock);
    ok = b->tokens >= n;
    if (ok)
        b->tokens -= n;
    pthread_mutex_unlock(&budget_lock);
    lua_pushboolean(L, ok);
    return 1;
}

/* budget:refund(n): n tokens back, never above the capacity. */
static int budget_refund(lua_State *L)
{
    bucket_t *b = *check(L);
    double n = check_amount(L);
    pthread_mutex_lock(&budget_lock);
    b->tokens = b->tokens + n > b->capacity ? b->capacity : b->tokens + n;
    pthread_mutex_unlock(&budget_lock);
    return 0;
}

/* budget:tokens() -> tokens, capacity */
static int budget_tokens(lua_State *L)
{
    bucket_t *b = *check(L);
    double tokens, capacity;
    pthread_mutex_lock(&budget_lock);
    tokens = b->tokens;
    capacity = b->capacity;
    pthread_mutex_unlock(&budget_lock);
    lua_pushnumber(L, (lua_Number)tokens);
    lua_pushnumber(L, (lua_Number)capacity);
    return 2;
}

/* One shared bucket as core.budget_levels copies it: its target is at most the 511 bytes
 * budget_new keeps. */
typedef struct {
    char target[512];
    double capacity, tokens;
} level_t;

/* core.budget_levels() -> { { target =, capacity =, tokens = }, ... }: every shared bucket,
 * for lcm.stats (the gauge lcm_retry_budget_tokens). Copied under the lock into a userdata
 * allocated before it (allocating can raise), pushed after; when buckets were added in
 * between, the copy is made again, larger. */
static int budget_levels(lua_State *L)
{
    level_t *copy = NULL;
    size_t room = 0, n, i;
    const bucket_t *b;
    for (;;) {
        pthread_mutex_lock(&budget_lock);
        n = n_buckets;
        if (n <= room)
            break; /* still locked */
        pthread_mutex_unlock(&budget_lock);
        if (copy != NULL)
            lua_pop(L, 1);
        room = n + 16;
        copy = lua_newuserdata(L, room * sizeof *copy);
    }
    for (i = 0, b = buckets; i < n && b != NULL; i++, b = b->next) {
        snprintf(copy[i].target, sizeof copy[i].target, "%s", b->target);
        copy[i].capacity = b->capacity;
        copy[i].tokens = b->tokens;
    }
    pthread_mutex_unlock(&budget_lock);
    n = i;
    lua_createtable(L, (int)n, 0);
    for (i = 0; i < n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, copy[i].target);
        lua_setfield(L, -2, "target");
        lua_pushnumber(L, (lua_Number)copy[i].capacity);
        lua_setfield(L, -2, "capacity");
        lua_pushnumber(L, (lua_Number)copy[i].tokens);
        lua_setfield(L, -2, "tokens");
        lua_rawseti(L, -2, (lua_Integer)(i + 1));
    }
    return 1;
}

/* close and __gc: one function, safe twice. The shared bucket stays (its count is the point). */
static int budget_close(lua_State *L)
{
    bucket_t **ud = luaL_checkudata(L, 1, LCM_BUDGET_MT);
    bucket_t *b = *ud;
    *ud = NULL;
    if (b == NULL)
        return 0;
    if (b->target == NULL) {
        free(b);
        return 0;
    }
    pthread_mutex_lock(&budget_lock);
    b->refs--;
    pthread_mutex_unlock(&budget_lock);
    return 0;
}

/* core.budget(url|nil, capacity) -> budget: the bucket shared by every client of the
 * process for url's scheme://host:port and this capacity; with no url, a private one.
 * Arguments are checked by the Lua layer; a wrong one here is a programming error and raises. */
static int budget_new(lua_State *L)
{
    const char *url = luaL_optstring(L, 1, NULL);
    lua_Number capacity = lcm_checkrange(L, 2, 1, MAX_TOKENS);
    char target[512];
    bucket_t **ud;
    if (url != NULL && !lcm_origin(url, target, sizeof target))
        snprintf(target, sizeof target, "%s", url); /* not a URL libcurl can use: its text */
    ud = lua_newuserdata(L, sizeof *ud);
    *ud = NULL;
    luaL_setmetatable(L, LCM_BUDGET_MT);
    if (url == NULL) {
        if ((*ud = calloc(1, sizeof **ud)) != NULL)
            (*ud)->capacity = (*ud)->tokens = (double)capacity;
    } else {
        pthread_mutex_lock(&budget_lock);
        *ud = find(target, (double)capacity);
        pthread_mutex_unlock(&budget_lock);
    }
    if (*ud == NULL)
        return luaL_error(L, "lcm: out of memory");
    return 1;
}

void lcm_budget_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"take", budget_take}, {"refund", budget_refund}, {"tokens", budget_tokens}, {"close", budget_close},
        {NULL, NULL},
    };
    static const luaL_Reg fns[] = {{"budget", budget_new}, {"budget_levels", budget_levels}, {NULL, NULL}};
    lcm_newclass(L, LCM_BUDGET_MT, methods, budget_close);
    luaL_setfuncs(L, fns, 0);
}
