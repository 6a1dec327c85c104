/* The C side of `make bench` (bench/bench.lua drives it). Prints microseconds per call.
 *
 *   bench_host floor URL N [CAFILE]          a raw libcurl loop, one reused handle: the floor
 *   bench_host fresh URL N [CAFILE] [share|noshare]
 *                                            a fresh lua_State per call (the FreeSWITCH model):
 *                                            require "lcm", lcm.new, get_outcomes, lua_close
 *   bench_host load URL N                    only require "lcm" + lcm.new in a fresh state
 *                                            (the state's creation and closing not counted)
 *   bench_host concurrent URL N CAFILE share|noshare THREADS
 *                                            THREADS threads making N fresh-state calls in all:
 *                                            prints the wall time per call and the connections
 *                                            the process opened (the pool's count)
 * Each mode first makes a few untimed calls, so that connections and caches are warm. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#define WARMUP 50

static const char request[] = "{\"channel\":\"LCM\",\"topic\":\"WebService\",\"subtopic\":\"GetOutcomeByOutcomegroup\","
                              "\"source\":\"bench\",\"data\":{\"callid\":\"\",\"type\":\"MANUAL\"}}";

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static size_t sink(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static int floor_loop(const char *url, long n, const char *cafile)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    double start = 0;
    long i;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (cafile != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    for (i = -WARMUP; i < n; i++) {
        if (i == 0)
            start = now_us();
        if (curl_easy_perform(c) != CURLE_OK) {
            fprintf(stderr, "bench_host: request failed\n");
            return 1;
        }
    }
    printf("%.2f\n", (now_us() - start) / (double)n);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return 0;
}

static lua_State *state(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    return L;
}

static int run(lua_State *L, const char *code, const char *url, const char *cafile, int share)
{
    if (luaL_loadstring(L, code) != 0) {
        fprintf(stderr, "bench_host: %s\n", lua_tostring(L, -1));
        return 0;
    }
    lua_pushstring(L, url);
    if (cafile)
        lua_pushstring(L, cafile);
    else
        lua_pushnil(L);
    lua_pushboolean(L, share);
    if (lua_pcall(L, 3, 0, 0) != 0) {
        fprintf(stderr, "bench_host: %s\n", lua_tostring(L, -1));
        return 0;
    }
    return 1;
}

static const char per_call[] = "local url, ca, share = ...\n"
                               "local lcm = require 'lcm'\n"
                               "local c = assert(lcm.new { url = url, ca_file = ca, share = share })\n"
                               "assert(c:get_outcomes('', 'MANUAL'))\n"
                               "c:close()\n";

static const char load_only[] = "local url = ...\n"
                                "local lcm = require 'lcm'\n"
                                "local c = assert(lcm.new { url = url })\n";

static int fresh(const char *url, long n, const char *cafile, int share)
{
    double start = 0;
    long i;
    for (i = -WARMUP; i < n; i++) {
        lua_State *L;
        if (i == 0)
            start = now_us();
        L = state();
        if (!run(L, per_call, url, cafile, share))
            return 1;
        lua_close(L);
    }
    printf("%.2f\n", (now_us() - start) / (double)n);
    return 0;
}

static int load(const char *url, long n)
{
    double total = 0;
    long i;
    for (i = -WARMUP; i < n; i++) {
        lua_State *L = state();
        double t = now_us();
        if (!run(L, load_only, url, NULL, 1))
            return 1;
        if (i >= 0)
            total += now_us() - t;
        lua_close(L);
    }
    printf("%.2f\n", total / (double)n);
    return 0;
}

typedef struct {
    const char *url, *cafile;
    long calls;
    int share, failed;
} caller_t;

static void *caller(void *arg)
{
    caller_t *c = arg;
    long i;
    for (i = 0; i < c->calls && !c->failed; i++) {
        lua_State *L = state();
        c->failed = !run(L, per_call, c->url, c->cafile, c->share);
        lua_close(L);
    }
    return NULL;
}

/* The connections this process has opened (lcm.core's pool count). */
static long connects(void)
{
    lua_State *L = state();
    long n = -1;
    if (luaL_dostring(L, "return require('lcm.core').pool_stats().connects") == 0)
        n = (long)lua_tonumber(L, -1);
    lua_close(L);
    return n;
}

static int concurrent(const char *url, long n, const char *cafile, int share, int threads)
{
    pthread_t tids[256];
    caller_t cs[256];
    double start;
    long before;
    int i, failed = 0;
    if (threads < 1 || threads > 256)
        return 2;
    for (i = 0; i < WARMUP; i++) {
        lua_State *L = state();
        if (!run(L, per_call, url, cafile, share))
            return 1;
        lua_close(L);
    }
    before = connects();
    start = now_us();
    for (i = 0; i < threads; i++) {
        cs[i].url = url;
        cs[i].cafile = cafile;
        cs[i].calls = n / threads;
        cs[i].share = share;
        cs[i].failed = 0;
        if (pthread_create(&tids[i], NULL, caller, &cs[i]) != 0)
            return 1;
    }
    for (i = 0; i < threads; i++) {
        pthread_join(tids[i], NULL);
        failed |= cs[i].failed;
    }
    if (failed)
        return 1;
    printf("%.2f %ld\n", (now_us() - start) / (double)(n / threads * threads), connects() - before);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 3 ? atol(argv[3]) : 0;
    const char *cafile = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    if (argc < 4 || n < 1) {
        fprintf(stderr, "usage: bench_host floor|fresh|load|concurrent URL N [CAFILE|-] [share|noshare] [THREADS]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "floor") == 0)
        return floor_loop(argv[2], n, cafile);
    if (strcmp(argv[1], "fresh") == 0)
        return fresh(argv[2], n, cafile, !(argc > 5 && strcmp(argv[5], "noshare") == 0));
    if (strcmp(argv[1], "load") == 0)
        return load(argv[2], n);
    if (strcmp(argv[1], "concurrent") == 0 && argc > 6)
        return concurrent(argv[2], n, cafile, strcmp(argv[5], "noshare") != 0, atoi(argv[6]));
    return 2;
}
