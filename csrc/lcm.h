/* Internal interface between the C files of lcm.core. Only luaopen_lcm_core
 * is exported from the shared object (see LCM_EXPORT and -fvisibility=hidden). */
#ifndef LCM_H
#define LCM_H

#include <stddef.h>
#include "compat.h"

#define LCM_EXPORT __attribute__((visibility("default")))

LCM_EXPORT int luaopen_lcm_core(lua_State *L);

/* Each C file registers its functions into the module table at the top of the stack. */
void lcm_error_open(lua_State *L);
void lcm_codec_open(lua_State *L);
void lcm_http_open(lua_State *L);
void lcm_clock_open(lua_State *L);
void lcm_random_open(lua_State *L);
void lcm_outbox_open(lua_State *L);
void lcm_stats_open(lua_State *L);
void lcm_pool_open(lua_State *L);
void lcm_budget_open(lua_State *L);
void lcm_sandbox_open(lua_State *L);

/* Pushes a new error object {kind=, code=, message=, retryable=false}; code may be NULL.
 * Further fields are set by the caller with lua_setfield. */
void lcm_error_push(lua_State *L, const char *kind, const char *code, const char *message);

/* Returns nil, err: the convention of every runtime failure. Expects the error on top. */
int lcm_error_return(lua_State *L);

/* 1 when s[0..len) is well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
int lcm_utf8_valid(const char *s, size_t len);

/* Registers the metatable `name` with these methods as __index and gc as __gc. */
void lcm_newclass(lua_State *L, const char *name, const luaL_Reg *methods, lua_CFunction gc);

/* Keeps the shared object that holds addr mapped for the life of the process, even when
 * a Lua state's close dlcloses it. */
void lcm_pin(const void *addr);

/* luaL_checknumber, and an argument error unless lo <= n <= hi (NaN is outside): a number
 * checked with this can be cast to an integer type holding hi without undefined behaviour. */
lua_Number lcm_checkrange(lua_State *L, int arg, int lo, int hi);

/* Pushes t[name], falling back to a case-insensitive match on string keys:
 * the vendor's answers spell the same key several ways (OutComeID, OutcomeId...). */
int lcm_getfield_ci(lua_State *L, int t, const char *name);

/* The process-wide pool of easy handles (csrc/pool.c). A handle is used by one request of
 * one thread at a time; url is the URL libcurl was last given (it parses one again each
 * time it is set), key NULL for a private or temporary handle. */
#include <curl/curl.h>
typedef struct lcm_handle {
    CURL *curl;
    char *key, *url;
    struct lcm_handle *next;
    double idle_since;
    unsigned long generation; /* fork() children count up: see pool.c */
} lcm_handle_t;

/* Once, after curl_global_init: the share of DNS answers and TLS sessions, the fork handlers. */
void lcm_pool_init(void);
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
