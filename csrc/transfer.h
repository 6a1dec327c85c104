/* csrc/http.c: one request of a client (core.http) on a lane of the pool, and its answer.
 * csrc/engine.c runs it on the lane's multi handle. */
#ifndef LCM_TRANSFER_H
#define LCM_TRANSFER_H

#include <stddef.h>

#include <curl/curl.h>

#include "compat.h"
#include "pool.h"

typedef struct lcm_http lcm_http_t;
struct lcm_engine;

typedef enum { LCM_T_QUEUED, LCM_T_RUNNING, LCM_T_DONE, LCM_T_TAKEN } lcm_tstate_t;

typedef struct lcm_transfer {
    /* the request */
    lcm_http_t *http;
    lcm_handle_t *lane;           /* while running */
    const char *body;             /* borrowed: the engine keeps the Lua string (body_ref) */
    size_t body_len;
    char *url;                    /* owned until the lane has it */
    long timeout_ms, connect_timeout_ms;
    char key_header[160];
    struct curl_slist key_node;   /* chained in front of the client's fixed headers */
    int has_key;
    /* the answer, written by libcurl's callbacks (never a Lua state: see http.c) */
    char *buf;
    size_t len, cap;
    int too_large, oom, no_fd, cancelled, forked;
    long retry_after;             /* seconds, -1 when the answer had none */
    char errbuf[CURL_ERROR_SIZE];
    CURLcode rc;
    long status;
    int left;                     /* whether any byte of the request may have left */
    /* the engine's */
    lcm_handle_t **spare;         /* the engine's lanes kept between its requests (http.c) */
    lcm_tstate_t state;
    struct lcm_engine *engine;
    struct lcm_transfer *prev, *next;
    int self_ref, body_ref, http_ref; /* registry references while the engine holds it */
    int touched;
} lcm_transfer_t;

/* The client at idx, or NULL with the `invalid` error pushed when it is closed. Raises when
 * idx is not a client (a programming error). */
lcm_http_t *lcm_http_check(lua_State *L, int idx);
/* Checks and keeps perform's arguments (url, body, key, timeouts from index arg) in t. */
void lcm_transfer_args(lua_State *L, int arg, lcm_transfer_t *t);
/* Takes a lane for t and sets its request on it; 0 when out of memory (t is then done,
 * with its error). */
int lcm_transfer_begin(lcm_transfer_t *t);
/* The transfer ended with rc (libcurl's); reads what is left to read off the lane and gives
 * the lane back. */
void lcm_transfer_end(lcm_transfer_t *t, CURLcode rc);
/* status, body, retry_after|nil  |  nil, err */
int lcm_transfer_push(lua_State *L, lcm_transfer_t *t);
void lcm_transfer_free(lcm_transfer_t *t);

#endif
