/* The process-wide pool of warm libcurl easy handles, and the share of DNS answers and TLS
 * sessions between them.
 *
 * Why a pool and not a shared connection cache: libcurl's CURLSHOPT_SHARE documentation
 * says "It is not supported to share connections between multiple concurrent threads"
 * (CURL_LOCK_DATA_CONNECT), and an easy handle's own cache holds 5 connections, busy ones
 * included. What libcurl does support is one handle used by one thread at a time, keeping
 * its connection (and TLS session) between transfers, and DNS and TLS-session data shared
 * through a share handle with locks. So a request checks out a handle whose options decide
 * the same connection (the key: scheme://host:port and every connection-affecting option
 * of the client), performs on it alone, and checks it in again with its live connection.
 * FreeSWITCH and pbx_lua give each call a fresh Lua state: the pool outlives those states
 * (the module is pinned resident) and grows to the concurrency the process sees.
 *
 * Limits (core.configure_pool): at most max_total handles belong to the pool, idle or in
 * use; a request that finds none idle for its key when max_total are out gets a temporary
 * handle, closed after its request: a call is never made to wait for another call's
 * handle (a PBX must not hold a call), it only pays a new connection. At most max_idle are
 * kept idle (the least recently used go first), and an idle handle is closed after
 * idle_timeout_ms.
 *
 * Nothing here touches a Lua state while holding the mutex, and curl_easy_cleanup (which
 * may talk to the server: a TLS close_notify) runs after the mutex is released. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "lcm.h"
#include "clock.h"
#include "error.h"
#include "module.h"
#include "pool.h"
#include "engine.h"
#include "process.h"

#define MAX_LIMIT 100000             /* for max_idle and max_total */
#define MAX_IDLE_TIMEOUT_MS 86400000 /* a day */

/* Process-wide by design (see above); every field is guarded by pool_lock, and the pool
 * lives as long as the process. */
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    lcm_handle_t *idle; /* most recently used first */
    long max_idle, max_total, idle_timeout_ms;
    long n_idle, n_total;        /* n_total: the pool's handles, idle or checked out */
    unsigned long generation;    /* one more in every fork() child: see on_fork_child */
    unsigned long temporary;     /* temporary handles given out (max_total reached) */
    unsigned long created;       /* pooled handles created */
    unsigned long connects;      /* connections opened by every request of the process */
} pool = {NULL, 32, 256, 60000, 0, 0, 0, 0, 0, 0};

/* Handles inherited over a fork(), never used nor cleaned up (see on_fork_child), kept
 * reachable here so that a leak checker does not report what is left behind on purpose. */
static lcm_handle_t *abandoned;

/* The share of DNS answers and TLS sessions, with one lock per kind of data as libcurl
 * asks. Set up once with the pool and kept for the life of the process. */
static CURLSH *share;
static pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
    (void)h;
    (void)access;
    (void)ud;
    pthread_mutex_lock(&share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    (void)h;
    (void)ud;
    pthread_mutex_unlock(&share_locks[data]);
}

/* fork() (csrc/process.c takes every lock of the module around it). The child must never
 * talk on its parent's connections: their sockets are the parent's too. The inherited
 * handles are dropped without curl_easy_cleanup, deliberately leaked: a cleanup would send a
 * TLS close_notify (and an OpenSSL shutdown) on the parent's live connection, and closing
 * their sockets first would let the cleanup write into whatever file the child opens next
 * under the same descriptor number. What is left behind is bounded by max_total handles,
 * once per fork (kept in `abandoned`). A handle checked out before the fork (by a thread
 * the child does not have) belongs to an older generation and is leaked when it comes back. */
static void forget_inherited(void)
{
    if (pool.idle != NULL) {
        lcm_handle_t *last = pool.idle;
        while (last->next != NULL)
            last = last->next;
        last->next = abandoned;
        abandoned = pool.idle;
    }
    pool.idle = NULL;
    pool.n_idle = pool.n_total = 0;
    pool.generation++;
}

void lcm_pool_fork(lcm_fork_t phase)
{
    int i;
    if (phase == LCM_FORK_PREPARE) {
        pthread_mutex_lock(&pool_lock);
        for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
            pthread_mutex_lock(&share_locks[i]);
        return;
    }
    if (phase == LCM_FORK_CHILD)
        forget_inherited();
    for (i = CURL_LOCK_DATA_LAST - 1; i >= 0; i--)
        pthread_mutex_unlock(&share_locks[i]);
    pthread_mutex_unlock(&pool_lock);
}

/* Once per process, from csrc/process.c (which pins the module: the share handle keeps
 * pointers to share_lock and share_unlock). The locks are made whatever curl_ok says:
 * the fork handlers take them. */
void lcm_pool_init(int curl_ok)
{
    int i;
    for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&share_locks[i], NULL);
    if (!curl_ok)
        return;
    share = curl_share_init();
    if (share != NULL &&
        (curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock) != CURLSHE_OK ||
         curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock) != CURLSHE_OK ||
         curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) != CURLSHE_OK ||
         curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) != CURLSHE_OK)) {
        curl_share_cleanup(share);
        share = NULL; /* handles then resolve and handshake alone: slower, still correct */
    }
}

/* A new handle; key NULL for a temporary or private one. Pool handles, temporary ones
 * included, share DNS answers and TLS sessions; a private one (share = false) nothing. */
static lcm_handle_t *new_handle(const char *key, int shared)
{
    lcm_handle_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->epfd = -1;
    p->timer_at = -1;
    p->curl = curl_easy_init();
    p->key = key != NULL ? strdup(key) : NULL;
    if (p->curl == NULL || (key != NULL && p->key == NULL) || !lcm_lane_init(p)) {
        int why = errno; /* EMFILE from epoll_create1: the caller says so (csrc/http.c) */
        lcm_handle_free(p);
        errno = why;
        return NULL;
    }
    if (shared && share != NULL)
        curl_easy_setopt(p->curl, CURLOPT_SHARE, share);
    p->generation = pool.generation; /* the caller holds pool_lock */
    return p;
}

void lcm_handle_free(lcm_handle_t *p)
{
    if (p == NULL)
        return;
    lcm_lane_free(p); /* the multi first: it may still hold the easy handle */
    if (p->curl != NULL)
        curl_easy_cleanup(p->curl);
    free(p->key);
    free(p->url);
    free(p);
}

lcm_handle_t *lcm_handle_new(void)
{
    lcm_handle_t *p;
    pthread_mutex_lock(&pool_lock);
    p = new_handle(NULL, 0);
    pthread_mutex_unlock(&pool_lock);
    return p;
}

void lcm_handle_abandon(lcm_handle_t *p)
{
    pthread_mutex_lock(&pool_lock);
    p->next = abandoned;
    abandoned = p;
    pthread_mutex_unlock(&pool_lock);
}

int lcm_handle_inherited(const lcm_handle_t *p)
{
    int inherited;
    pthread_mutex_lock(&pool_lock);
    inherited = p->generation != pool.generation;
    pthread_mutex_unlock(&pool_lock);
    return inherited;
}

/* Unlinks the least recently used idle handle into *closing. */
static void drop_lru(lcm_handle_t **closing)
{
    lcm_handle_t **pp = &pool.idle;
    while ((*pp)->next != NULL)
        pp = &(*pp)->next;
    (*pp)->next = *closing;
    *closing = *pp;
    *pp = NULL;
    pool.n_idle--;
    pool.n_total--;
}

/* Unlinks the idle handles past the limits into *closing (closed by the caller, unlocked):
 * the expired ones, those beyond max_idle, and the least recently used while the pool holds
 * more than max_total (it was lowered). */
static void trim(lcm_handle_t **closing)
{
    lcm_handle_t **pp = &pool.idle;
    double expired = lcm_monotonic_ms() - (double)pool.idle_timeout_ms;
    long kept = 0;
    while (*pp != NULL) {
        lcm_handle_t *p = *pp;
        if (kept >= pool.max_idle || p->idle_since <= expired) {
            *pp = p->next;
            p->next = *closing;
            *closing = p;
            pool.n_idle--;
            pool.n_total--;
        } else {
            kept++;
            pp = &p->next;
        }
    }
    while (pool.n_total > pool.max_total && pool.idle != NULL)
        drop_lru(closing);
}

static void close_all(lcm_handle_t *list)
{
    while (list != NULL) {
        lcm_handle_t *next = list->next;
        lcm_handle_free(list);
        list = next;
    }
}

lcm_handle_t *lcm_pool_checkout(const char *key, int *fresh)
{
    lcm_handle_t **pp, *p = NULL, *closing = NULL;
    pthread_mutex_lock(&pool_lock);
    trim(&closing);
    for (pp = &pool.idle; *pp != NULL; pp = &(*pp)->next)
        if (strcmp((*pp)->key, key) == 0) {
            p = *pp;
            *pp = p->next;
            pool.n_idle--;
            break;
        }
    /* Full, but with idle handles of other keys: the least recently used one makes room. */
    if (p == NULL && pool.n_total >= pool.max_total && pool.idle != NULL)
        drop_lru(&closing);
    *fresh = p == NULL;
    if (p == NULL) {
        int pooled = pool.n_total < pool.max_total;
        p = new_handle(pooled ? key : NULL, 1);
        if (p != NULL && pooled) {
            pool.n_total++;
            pool.created++;
        } else if (p != NULL) {
            pool.temporary++;
        }
    }
    pthread_mutex_unlock(&pool_lock);
    close_all(closing);
    if (p != NULL)
        p->next = NULL;
    return p;
}

void lcm_pool_checkin(lcm_handle_t *p, long connects)
{
    lcm_handle_t *closing = NULL;
    int leak = 0;
    pthread_mutex_lock(&pool_lock);
    pool.connects += (unsigned long)(connects > 0 ? connects : 0);
    if (p->generation != pool.generation) {
        leak = 1; /* checked out before a fork(): see on_fork_child */
        p->next = abandoned;
        abandoned = p;
    } else if (p->key == NULL) {
        closing = p; /* temporary */
    } else {
        p->idle_since = lcm_monotonic_ms();
        p->next = pool.idle;
        pool.idle = p;
        pool.n_idle++;
        trim(&closing);
    }
    pthread_mutex_unlock(&pool_lock);
    if (!leak)
        close_all(closing);
}

void lcm_pool_count(long connects)
{
    pthread_mutex_lock(&pool_lock);
    pool.connects += (unsigned long)(connects > 0 ? connects : 0);
    pthread_mutex_unlock(&pool_lock);
}

int lcm_origin(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ok = u != NULL && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok)
        ok = snprintf(out, size, "%s://%s:%s", scheme, host, port) < (int)size;
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

/* A field of core.configure_pool's table: nil keeps the current value. 0 on a bad value,
 * with the error on the stack. */
static int limit(lua_State *L, const char *name, long min, long max, long *out)
{
    int in_range;
    lua_Number n;
    lua_getfield(L, 1, name);
    in_range = lcm_inrange(L, -1, (int)min, (int)max);
    n = lua_tonumber(L, -1);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return 1;
    }
    lua_pop(L, 1);
    /* the range is checked before the cast: (long)n of a huge n is undefined */
    if (in_range && n == (lua_Number)(long)n) {
        *out = (long)n;
        return 1;
    }
    lcm_error_push(L, "invalid", NULL,
                   lua_pushfstring(L, "%s must be an integer from %d to %d", name, (int)min, (int)max));
    lua_remove(L, -2);
    lua_pushstring(L, name);
    lua_setfield(L, -2, "field");
    return 0;
}

/* core.configure_pool{ max_idle =, max_total =, idle_timeout_ms = } -> true | nil, err.
 * Fields left out keep their values; unknown fields are refused. */
static int configure_pool(lua_State *L)
{
    static const char *const known[] = {"max_idle", "max_total", "idle_timeout_ms", NULL};
    long max_idle, max_total, idle_timeout_ms;
    lcm_handle_t *closing = NULL;
    if (!lua_istable(L, 1)) {
        lcm_error_push(L, "invalid", NULL, "configure_pool takes a table of limits");
        lua_pushliteral(L, "pool");
        lua_setfield(L, -2, "field");
        return lcm_error_return(L);
    }
    lua_pushnil(L);
    while (lua_next(L, 1) != 0) {
        int i, found = 0;
        lua_pop(L, 1);
        for (i = 0; known[i] != NULL; i++)
            found |= lua_type(L, -1) == LUA_TSTRING && strcmp(lua_tostring(L, -1), known[i]) == 0;
        if (!found) {
            const char *name = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
            lcm_error_push(L, "invalid", NULL, lua_pushfstring(L, "%s is not a pool setting", name));
            lua_remove(L, -2);
            lua_pushstring(L, name);
            lua_setfield(L, -2, "field");
            return lcm_error_return(L);
        }
    }
    pthread_mutex_lock(&pool_lock);
    max_idle = pool.max_idle;
    max_total = pool.max_total;
    idle_timeout_ms = pool.idle_timeout_ms;
    pthread_mutex_unlock(&pool_lock);
    if (!limit(L, "max_idle", 0, MAX_LIMIT, &max_idle) || !limit(L, "max_total", 1, MAX_LIMIT, &max_total) ||
        !limit(L, "idle_timeout_ms", 0, MAX_IDLE_TIMEOUT_MS, &idle_timeout_ms))
        return lcm_error_return(L);
    pthread_mutex_lock(&pool_lock);
    pool.max_idle = max_idle;
    pool.max_total = max_total;
    pool.idle_timeout_ms = idle_timeout_ms;
    trim(&closing);
    pthread_mutex_unlock(&pool_lock);
    close_all(closing);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.pool_stats() -> { idle, total, in_use, created, temporary, connects, max_idle,
 * max_total, idle_timeout_ms }: what the embedding host and make bench report. */
static int pool_stats(lua_State *L)
{
    long v[9];
    static const char *const names[] = {"idle", "total", "in_use", "created", "temporary",
                                        "connects", "max_idle", "max_total", "idle_timeout_ms"};
    size_t i;
    pthread_mutex_lock(&pool_lock);
    v[0] = pool.n_idle;
    v[1] = pool.n_total;
    v[2] = pool.n_total - pool.n_idle;
    v[3] = (long)pool.created;
    v[4] = (long)pool.temporary;
    v[5] = (long)pool.connects;
    v[6] = pool.max_idle;
    v[7] = pool.max_total;
    v[8] = pool.idle_timeout_ms;
    pthread_mutex_unlock(&pool_lock);
    lua_createtable(L, 0, 9);
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        lua_pushinteger(L, (lua_Integer)v[i]);
        lua_setfield(L, -2, names[i]);
    }
    return 1;
}

void lcm_pool_open(lua_State *L)
{
    static const luaL_Reg fns[] = {{"configure_pool", configure_pool}, {"pool_stats", pool_stats}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
