/* Process-wide counters and latency histograms (lcm.stats, lcm.stats_text).
 *
 * A FreeSWITCH or Asterisk process makes a Lua state per call, so counters kept in a client
 * or a state would say nothing: these live in the process, behind one mutex, shared by every
 * client in every state and thread. That is the reason for the mutable globals below. They
 * survive Lua states closing because the module is pinned resident (csrc/process.c).
 *
 * The set of series is bounded: names come from the Lua layer (fixed metric names, error
 * kinds and codes, subtopics that passed the subtopic check); past MAX_SERIES a new series is
 * counted in lcm_stats_dropped_series_total instead, so no caller can grow this without end. */
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "lcm.h"
#include "process.h"

#define MAX_SERIES 512
#define MAX_KEY 160
#define MAX_HISTOGRAMS 64

/* Latency buckets, upper bounds in milliseconds; the last bucket is +Inf. */
static const double bounds_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000};
#define NBOUNDS (sizeof bounds_ms / sizeof bounds_ms[0])

typedef struct {
    char key[MAX_KEY];
    double value;
} series_t;

typedef struct {
    char subtopic[LCM_MAX_SUBTOPIC + 1];
    double buckets[NBOUNDS + 1]; /* not cumulative here; lcm.stats_text sums them */
    double sum_ms, count;
} histogram_t;

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static series_t series[MAX_SERIES];
static size_t nseries;
static double dropped;
static histogram_t histograms[MAX_HISTOGRAMS];
static size_t nhistograms;

/* The slot called name in an array of *n slots of `size` bytes whose first member is their
 * name (series_t, histogram_t), added zeroed when there is room; NULL when there is none.
 * Called with stats_lock held. */
static void *find_slot(void *slots, size_t size, size_t *n, size_t max, const char *name, size_t len)
{
    char *p = slots;
    size_t i;
    for (i = 0; i < *n; i++, p += size)
        if (strncmp(p, name, len) == 0 && p[len] == '\0')
            return p;
    if (*n == max)
        return NULL;
    memset(p, 0, size);
    memcpy(p, name, len);
    (*n)++;
    return p;
}

/* core.stats_add(series, n) -> the counter's new total (nil when there was no room for a
 * new series): adds n (a finite number) to the counter called series
 * ('lcm_requests_total{subtopic="SetDNC"}'). The total lets a caller do a thing once per
 * process (the first time a counter reaches 1). */
static int stats_add(lua_State *L)
{
    size_t len;
    const char *key = luaL_checklstring(L, 1, &len);
    lua_Number n = luaL_optnumber(L, 2, 1);
    series_t *s;
    double total = 0;
    luaL_argcheck(L, len > 0 && len < MAX_KEY && memchr(key, '\0', len) == NULL, 1, "bad series name");
    luaL_argcheck(L, n == n && n < 1e300 && n > -1e300, 2, "must be a finite number");
    pthread_mutex_lock(&stats_lock);
    s = find_slot(series, sizeof series[0], &nseries, MAX_SERIES, key, len);
    if (s == NULL)
        dropped += 1;
    else
        total = s->value += (double)n;
    pthread_mutex_unlock(&stats_lock);
    if (s == NULL)
        return 0;
    lua_pushnumber(L, (lua_Number)total);
    return 1;
}

/* core.stats_observe(subtopic, ms): one request's latency. */
static int stats_observe(lua_State *L)
{
    size_t len, b;
    const char *subtopic = luaL_checklstring(L, 1, &len);
    lua_Number ms = luaL_checknumber(L, 2);
    histogram_t *h;
    luaL_argcheck(L, len > 0 && len <= LCM_MAX_SUBTOPIC && memchr(subtopic, '\0', len) == NULL, 1, "bad subtopic");
    luaL_argcheck(L, ms >= 0 && ms < 1e300, 2, "must be a finite number >= 0");
    for (b = 0; b < NBOUNDS && (double)ms > bounds_ms[b]; b++)
        ;
    pthread_mutex_lock(&stats_lock);
    h = find_slot(histograms, sizeof histograms[0], &nhistograms, MAX_HISTOGRAMS, subtopic, len);
    if (h == NULL) {
        dropped += 1;
    } else {
        h->buckets[b] += 1;
        h->sum_ms += (double)ms;
        h->count += 1;
    }
    pthread_mutex_unlock(&stats_lock);
    return 0;
}

/* A copy of everything, taken under the lock and pushed after it: pushing can raise
 * (out of memory), and a raise must never leave the lock held. */
typedef struct {
    series_t series[MAX_SERIES];
    size_t nseries;
    double dropped;
    histogram_t histograms[MAX_HISTOGRAMS];
    size_t nhistograms;
} snapshot_t;

/* core.stats() -> { counters = { [series] = n }, latency = { [subtopic] =
 *   { count =, sum_ms =, buckets = { { le = ms | math.huge, count = n }, ... } } } } */
static int stats_snapshot(lua_State *L)
{
    snapshot_t *snap = lua_newuserdata(L, sizeof *snap); /* collected with the call's garbage */
    size_t i, b;
    pthread_mutex_lock(&stats_lock);
    memcpy(snap->series, series, nseries * sizeof series[0]);
    snap->nseries = nseries;
    snap->dropped = dropped;
    memcpy(snap->histograms, histograms, nhistograms * sizeof histograms[0]);
    snap->nhistograms = nhistograms;
    pthread_mutex_unlock(&stats_lock);

    lua_createtable(L, 0, 2);
    lua_createtable(L, 0, (int)snap->nseries + 1);
    for (i = 0; i < snap->nseries; i++) {
        lua_pushnumber(L, (lua_Number)snap->series[i].value);
        lua_setfield(L, -2, snap->series[i].key);
    }
    lua_pushnumber(L, (lua_Number)snap->dropped);
    lua_setfield(L, -2, "lcm_stats_dropped_series_total");
    lua_setfield(L, -2, "counters");
    lua_createtable(L, 0, (int)snap->nhistograms);
    for (i = 0; i < snap->nhistograms; i++) {
        const histogram_t *h = &snap->histograms[i];
        lua_createtable(L, 0, 3);
        lua_pushnumber(L, (lua_Number)h->count);
        lua_setfield(L, -2, "count");
        lua_pushnumber(L, (lua_Number)h->sum_ms);
        lua_setfield(L, -2, "sum_ms");
        lua_createtable(L, (int)NBOUNDS + 1, 0);
        for (b = 0; b <= NBOUNDS; b++) {
            lua_createtable(L, 0, 2);
            lua_pushnumber(L, b < NBOUNDS ? (lua_Number)bounds_ms[b] : (lua_Number)HUGE_VAL);
            lua_setfield(L, -2, "le");
            lua_pushnumber(L, (lua_Number)h->buckets[b]);
            lua_setfield(L, -2, "count");
            lua_rawseti(L, -2, (lua_Integer)(b + 1));
        }
        lua_setfield(L, -2, "buckets");
        lua_setfield(L, -2, h->subtopic);
    }
    lua_setfield(L, -2, "latency");
    return 1;
}

/* fork() (csrc/process.c): a child keeps the counts, never a lock another thread held. */
void lcm_stats_fork(lcm_fork_t phase)
{
    if (phase == LCM_FORK_PREPARE)
        pthread_mutex_lock(&stats_lock);
    else
        pthread_mutex_unlock(&stats_lock);
}

/* core.stats_reset(): for tests and for an admin who wants a fresh count. */
static int stats_reset(lua_State *L)
{
    (void)L;
    pthread_mutex_lock(&stats_lock);
    nseries = 0;
    nhistograms = 0;
    dropped = 0;
    pthread_mutex_unlock(&stats_lock);
    return 0;
}

void lcm_stats_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"stats_add", stats_add},
        {"stats_observe", stats_observe},
        {"stats", stats_snapshot},
        {"stats_reset", stats_reset},
        {NULL, NULL},
    };
    luaL_setfuncs(L, fns, 0);
}
