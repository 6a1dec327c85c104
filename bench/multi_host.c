/* The baseline of `make bench`'s rows for many requests in flight (bench/async.lua drives
 * it): a C loop on libcurl's multi interface doing the same get_outcomes POST as the other
 * rows, answers discarded, as a script would do by hand with no JSON and no LCM semantics.
 *
 *   multi_host run URL N INFLIGHT [CAFILE|-]
 *       INFLIGHT easy handles on one multi, each re-added as soon as its transfer is done,
 *       until N transfers have ended (after a warm-up of 2 x INFLIGHT untimed ones).
 *       Prints: calls per second.
 *   multi_host rss URL INFLIGHT MS [CAFILE|-]
 *       For a slow URL (one that answers after more than MS ms): the RSS in KiB with no
 *       transfer, then INFLIGHT transfers added and driven for MS ms, the RSS again, then
 *       every transfer finished. Prints: rss_before rss_during (KiB), then the transfers
 *       that ended with 200.
 * Any failed transfer fails the run (exit 1). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static const char request[] = "{\"channel\":\"LCM\",\"topic\":\"WebService\",\"subtopic\":\"GetOutcomeByOutcomegroup\","
                              "\"source\":\"bench\",\"data\":{\"callid\":\"\",\"type\":\"MANUAL\"}}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t sink(char *data, size_t size, size_t n, void *ud)
{
    (void)data;
    (void)ud;
    return size * n;
}

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * 4;
}

static CURL *handle(const char *url, const char *cafile, struct curl_slist *headers)
{
    CURL *c = curl_easy_init();
    if (c == NULL)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    if (cafile != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
    return c;
}

/* Drives the multi until `*ended` reaches `want` or `until` (a now_s() time, 0: none) has
 * passed, counting ended transfers in `*ended`. Re-adds each handle that ended while
 * `*started` < `total`. Returns 0, or -1 when a transfer failed. */
static int drive(CURLM *m, long want, long *ended, long *started, long total, double until)
{
    int running = 1;
    while (*ended < want) {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left)) != NULL) {
            long status = 0;
            CURL *c;
            if (msg->msg != CURLMSG_DONE)
                continue;
            c = msg->easy_handle;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
            if (msg->data.result != CURLE_OK || status != 200) {
                fprintf(stderr, "multi_host: transfer failed: %s, status %ld\n",
                        curl_easy_strerror(msg->data.result), status);
                return -1;
            }
            (*ended)++;
            curl_multi_remove_handle(m, c);
            if (*started < total) {
                curl_multi_add_handle(m, c);
                (*started)++;
            }
        }
        if (until > 0 && now_s() >= until)
            break;
        if (*ended < want)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    return 0;
}

static int run(const char *url, long n, int inflight, const char *cafile)
{
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)inflight, sizeof *hs);
    struct curl_slist *headers = NULL;
    long started = 0, ended = 0, total;
    long warm = 2L * inflight;
    double start;
    int i;
    if (m == NULL || hs == NULL)
        return 1;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    total = warm + n;
    for (i = 0; i < inflight && started < total; i++) {
        hs[i] = handle(url, cafile, headers);
        if (hs[i] == NULL)
            return 1;
        curl_multi_add_handle(m, hs[i]);
        started++;
    }
    if (drive(m, warm, &ended, &started, total, 0) < 0)
        return 1;
    start = now_s();
    n = total - ended; /* a few more than n may have ended in the warm-up */
    if (drive(m, total, &ended, &started, total, 0) < 0)
        return 1;
    printf("%.1f\n", (double)n / (now_s() - start));
    for (i = 0; i < inflight; i++) {
        if (hs[i] == NULL)
            continue;
        curl_multi_remove_handle(m, hs[i]);
        curl_easy_cleanup(hs[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(headers);
    free(hs);
    return 0;
}

static int rss(const char *url, int inflight, long ms, const char *cafile)
{
    CURLM *m = curl_multi_init();
    CURL **hs = calloc((size_t)inflight, sizeof *hs);
    struct curl_slist *headers = NULL;
    long before, during, started = 0, ended = 0, early;
    int i;
    if (m == NULL || hs == NULL)
        return 1;
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");
    before = rss_kib();
    for (i = 0; i < inflight; i++) {
        hs[i] = handle(url, cafile, headers);
        if (hs[i] == NULL)
            return 1;
        curl_multi_add_handle(m, hs[i]);
        started++;
    }
    if (drive(m, inflight, &ended, &started, started, now_s() + (double)ms / 1000) < 0)
        return 1;
    during = rss_kib();
    early = ended;
    if (drive(m, inflight, &ended, &started, started, 0) < 0)
        return 1;
    if (early > 0)
        fprintf(stderr, "multi_host: %ld transfers ended within %ld ms: the URL is not slow enough\n", early, ms);
    printf("%ld %ld\n%ld\n", before, during, ended);
    for (i = 0; i < inflight; i++) {
        curl_multi_remove_handle(m, hs[i]);
        curl_easy_cleanup(hs[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(headers);
    free(hs);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc >= 5 && strcmp(argv[1], "run") == 0 && atol(argv[3]) > 0 && atoi(argv[4]) > 0)
        rc = run(argv[2], atol(argv[3]), atoi(argv[4]), argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL);
    else if (argc >= 5 && strcmp(argv[1], "rss") == 0 && atoi(argv[3]) > 0 && atol(argv[4]) > 0)
        rc = rss(argv[2], atoi(argv[3]), atol(argv[4]), argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL);
    else
        fprintf(stderr, "usage: multi_host run URL N INFLIGHT [CAFILE|-] | rss URL INFLIGHT MS [CAFILE|-]\n");
    curl_global_cleanup();
    return rc;
}
