/* The C side of `make bench` (bench/bench.lua drives it). Prints microseconds per call.
 *
 *   bench_host floor URL N [CAFILE]          a raw libcurl loop, one reused handle: the floor
 *   bench_host fresh URL N [CAFILE] [share|noshare]
 *                                            a fresh lua_State per call (the FreeSWITCH model):
 *                                            require "lcm", lcm.new, get_outcomes, lua_close
 *   bench_host load URL N                    only require "lcm" + lcm.new in a fresh state
 *                                            (the state's creation and closing not counted)
 * Each mode first makes a few untimed calls, so that connections and caches are warm. */
#define _GNU_SOURCE
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

int main(int argc, char **argv)
{
    long n = argc > 3 ? atol(argv[3]) : 0;
    const char *cafile = argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL;
    if (argc < 4 || n < 1) {
        fprintf(stderr, "usage: bench_host floor|fresh|load URL N [CAFILE|-] [share|noshare]\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[1], "floor") == 0)
        return floor_loop(argv[2], n, cafile);
    if (strcmp(argv[1], "fresh") == 0)
        return fresh(argv[2], n, cafile, !(argc > 5 && strcmp(argv[5], "noshare") == 0));
    if (strcmp(argv[1], "load") == 0)
        return load(argv[2], n);
    return 2;
}
