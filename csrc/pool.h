/* csrc/pool.c: the process-wide pool of libcurl easy handles. */
#ifndef LCM_POOL_H
#define LCM_POOL_H

#include <stddef.h>

#include <curl/curl.h>

/* The process-wide pool of handles (csrc/pool.c). A handle is an easy handle on a multi
 * handle of its own (a lane: the multi holds the connection between requests, as
 * curl_easy_perform's hidden one did), with the epoll set its sockets are watched in
 * (csrc/engine.c). It is used by one request of one thread at a time; url is the URL
 * libcurl was last given (it parses one again each time it is set), key NULL for a private
 * or temporary handle. */
typedef struct lcm_handle {
    CURL *curl;
    CURLM *multi;
    int epfd;         /* the lane's sockets, as libcurl's socket callback asks */
    double timer_at;  /* when libcurl wants curl_multi_socket_action(TIMEOUT); < 0: never */
    char *key, *url;
    struct lcm_handle *next;
    double idle_since;
    unsigned long generation; /* fork() children count up: see pool.c */
} lcm_handle_t;

/* Once, after curl_global_init (csrc/process.c): the share of DNS answers and TLS sessions. */
void lcm_pool_init(int curl_ok);
/* An idle handle of this key (*fresh = 0), or a new one to be set up by the caller (*fresh =
 * 1); NULL when out of memory. Give it back with lcm_pool_checkin, with the connections its
 * request opened (CURLINFO_NUM_CONNECTS). */
lcm_handle_t *lcm_pool_checkout(const char *key, int *fresh);
void lcm_pool_checkin(lcm_handle_t *h, long connects);
/* A client's private handle (share = false): never shared, never pooled. */
lcm_handle_t *lcm_handle_new(void);
/* 1 when h was made before a fork() of this process: the child must not use it, nor clean
 * it up (lcm_handle_abandon keeps it, unused; see pool.c). */
int lcm_handle_inherited(const lcm_handle_t *h);
void lcm_handle_abandon(lcm_handle_t *h);
void lcm_handle_free(lcm_handle_t *h);
/* Counts connections opened by a private handle's request. */
void lcm_pool_count(long connects);
/* "scheme://host:port" of url (default port filled in) into out; 0 when url is not one. */
int lcm_origin(const char *url, char *out, size_t size);

#endif
