/* The engine: every request of a Lua state runs here, on libcurl's multi interface, so that
 * one state can keep many in flight (tasks, lua/lcm/tasks.lua) and a blocking call is the
 * same request submitted and waited for (engine:perform).
 *
 * Each request runs on a lane of the process-wide pool (csrc/pool.c): an easy handle on a
 * multi handle of its own, which keeps the connection between requests as
 * curl_easy_perform's hidden multi did. Why not one multi per engine: a fresh Lua state per
 * call (FreeSWITCH, pbx_lua) would then open a connection per call; the pool hands a lane
 * and its live connection from one state (and thread) to the next, one thread at a time, as
 * libcurl asks of a multi handle. Each lane watches its sockets in an epoll set of its own
 * (libcurl's socket callback); the engine's epoll set holds the lanes' sets of its running
 * transfers, so one descriptor (engine:fd) says when any of them has work: the pollable a
 * cqueues or any other event loop waits on.
 *
 * Nothing here calls into Lua while libcurl runs: the callbacks write into C memory, and
 * results are pushed once a transfer has ended. An engine is driven by one thread at a time
 * (a busy flag refuses a second); a fork() child forgets the transfers of its parent. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <curl/curl.h>

#include "lcm.h"
#include "clock.h"
#include "engine.h"
#include "error.h"
#include "module.h"
#include "pool.h"
#include "transfer.h"

#define LCM_ENGINE_MT "lcm.engine"
#define LCM_TRANSFER_MT "lcm.transfer"
#define MAX_IN_FLIGHT 100000
#define MAX_EVENTS 64
#define MAX_WAIT_MS 1000 /* a blocking wait looks at the clock at least this often */

typedef struct list {
    lcm_transfer_t *head, *tail;
    long n;
} list_t;

typedef struct lcm_engine {
    int epfd;
    pid_t pid;
    int closed, stopping;
    int busy; /* atomic: a thread is inside the engine */
    long max_in_flight;
    list_t queued, running, done; /* done: ended, not yet reported by step or wait */
    lcm_handle_t *spare;          /* pooled lanes of ended requests, until the next turn */
} engine_t;

/* ---- lanes (csrc/pool.c makes them with their handle) ---- */

/* libcurl says which of a lane's sockets to watch for what. */
static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    lcm_handle_t *lane = userp;
    struct epoll_event ev;
    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        (void)epoll_ctl(lane->epfd, EPOLL_CTL_DEL, s, NULL);
        return 0;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
    ev.data.fd = s;
    if (epoll_ctl(lane->epfd, EPOLL_CTL_MOD, s, &ev) != 0 && errno == ENOENT)
        (void)epoll_ctl(lane->epfd, EPOLL_CTL_ADD, s, &ev);
    return 0;
}

/* libcurl says when it wants curl_multi_socket_action(TIMEOUT) on a lane. */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    lcm_handle_t *lane = userp;
    (void)multi;
    lane->timer_at = timeout_ms < 0 ? -1 : lcm_monotonic_ms() + (double)timeout_ms;
    return 0;
}

int lcm_lane_init(lcm_handle_t *p)
{
    if ((p->multi = curl_multi_init()) == NULL || (p->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return 0;
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(p->multi, CURLMOPT_SOCKETDATA, p);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(p->multi, CURLMOPT_TIMERDATA, p);
    return 1;
}

void lcm_lane_free(lcm_handle_t *p)
{
    if (p->multi != NULL) {
        if (p->curl != NULL)
            curl_multi_remove_handle(p->multi, p->curl);
        curl_multi_cleanup(p->multi);
        p->multi = NULL;
    }
    if (p->epfd >= 0)
        close(p->epfd);
    p->epfd = -1;
}

/* ---- lists ---- */

static void link_tail(list_t *l, lcm_transfer_t *t)
{
    t->next = NULL;
    t->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    l->n++;
}

static void unlink_from(list_t *l, lcm_transfer_t *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    t->prev = t->next = NULL;
    l->n--;
}

static list_t *list_of(engine_t *e, lcm_transfer_t *t)
{
    return t->state == LCM_T_QUEUED ? &e->queued : t->state == LCM_T_RUNNING ? &e->running : &e->done;
}

/* ---- transfers ---- */

/* The Lua values a transfer needs while the engine holds it (itself, its body, its client)
 * are kept in the registry; released when it is reported (or collected). */
static void unref_all(lua_State *L, lcm_transfer_t *t)
{
    luaL_unref(L, LUA_REGISTRYINDEX, t->body_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, t->http_ref);
    luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
    t->body_ref = t->http_ref = t->self_ref = LUA_NOREF;
}

/* t has ended (rc, or cancelled): off the lane, into the done list. */
static void finish(engine_t *e, lcm_transfer_t *t, CURLcode rc)
{
    unlink_from(list_of(e, t), t);
    if (t->lane != NULL) {
        curl_multi_remove_handle(t->lane->multi, t->lane->curl);
        (void)epoll_ctl(e->epfd, EPOLL_CTL_DEL, t->lane->epfd, NULL);
        t->lane->timer_at = -1;
    }
    lcm_transfer_end(t, rc);
    t->state = LCM_T_DONE;
    link_tail(&e->done, t);
}

static void start(engine_t *e, lcm_transfer_t *t)
{
    struct epoll_event ev;
    unlink_from(&e->queued, t);
    t->state = LCM_T_RUNNING;
    link_tail(&e->running, t);
    if (!lcm_transfer_begin(t)) {
        finish(e, t, t->rc);
        return;
    }
    memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.ptr = t;
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, t->lane->epfd, &ev) != 0 ||
        curl_multi_add_handle(t->lane->multi, t->lane->curl) != CURLM_OK) {
        t->oom = 1; /* out of memory or descriptors: nothing was sent */
        t->left = 0;
        snprintf(t->errbuf, sizeof t->errbuf, "cannot start the request: %s", strerror(errno));
        finish(e, t, CURLE_OUT_OF_MEMORY);
    }
}

static void start_queued(engine_t *e)
{
    while (e->queued.head != NULL && e->running.n < e->max_in_flight)
        start(e, e->queued.head);
}

/* Reads the lane's ended transfer, if any. */
static void collect(engine_t *e, lcm_transfer_t *t)
{
    CURLMsg *msg;
    int left;
    while (t->state == LCM_T_RUNNING && (msg = curl_multi_info_read(t->lane->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            finish(e, t, msg->data.result);
}

/* The lanes no request took since they were left: back to the pool (csrc/http.c, release). */
static void give_back(engine_t *e)
{
    while (e->spare != NULL) {
        lcm_handle_t *p = e->spare;
        e->spare = p->next;
        p->next = NULL;
        lcm_pool_checkin(p, 0);
    }
}

/* When the first running transfer's lane wants libcurl's timeout action; < 0: none. */
static double soonest_timer(const engine_t *e)
{
    const lcm_transfer_t *t;
    double soonest = -1;
    for (t = e->running.head; t != NULL; t = t->next)
        if (t->lane != NULL && t->lane->timer_at >= 0 && (soonest < 0 || t->lane->timer_at < soonest))
            soonest = t->lane->timer_at;
    return soonest;
}

/* One turn: waits up to wait_ms for a socket or a timer of a running transfer, lets libcurl
 * act on what is ready, and moves what ended to the done list. */
static void turn(engine_t *e, long wait_ms)
{
    struct epoll_event evs[MAX_EVENTS], lane_evs[8];
    lcm_transfer_t *t, *next;
    double now = lcm_monotonic_ms(), soonest = soonest_timer(e);
    int i, n, still;
    give_back(e); /* the tasks had their chance to reuse them since the last turn */
    if (soonest >= 0 && soonest - now < (double)wait_ms)
        wait_ms = soonest <= now ? 0 : (long)(soonest - now) + 1;
    if (e->done.n > 0)
        wait_ms = 0;
    n = epoll_wait(e->epfd, evs, MAX_EVENTS, (int)wait_ms);
    for (i = 0; i < n; i++) {
        int j, m;
        t = evs[i].data.ptr;
        t->touched = 1;
        m = epoll_wait(t->lane->epfd, lane_evs, 8, 0);
        for (j = 0; j < m; j++) {
            uint32_t ev = lane_evs[j].events;
            int flags = (ev & (EPOLLIN | EPOLLHUP) ? CURL_CSELECT_IN : 0) | (ev & EPOLLOUT ? CURL_CSELECT_OUT : 0) |
                        (ev & EPOLLERR ? CURL_CSELECT_ERR : 0);
            curl_multi_socket_action(t->lane->multi, lane_evs[j].data.fd, flags, &still);
        }
    }
    now = lcm_monotonic_ms();
    for (t = e->running.head; t != NULL; t = t->next)
        if (t->lane->timer_at >= 0 && t->lane->timer_at <= now) {
            t->lane->timer_at = -1;
            t->touched = 1;
            curl_multi_socket_action(t->lane->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        }
    for (t = e->running.head; t != NULL; t = next) {
        next = t->next;
        if (t->touched) {
            t->touched = 0;
            collect(e, t);
        }
    }
    start_queued(e);
}

/* ---- the engine's use by one thread at a time, and fork() ---- */

/* A fork() child: the running transfers are its parent's (their lanes' sockets and epoll
 * sets are shared with it). They end as FORKED without a word to libcurl (csrc/pool.c
 * leaks their lanes), and the child gets an epoll set of its own. */
static void forget_parent(engine_t *e)
{
    lcm_transfer_t *t;
    int fd = epoll_create1(EPOLL_CLOEXEC);
    if (e->epfd >= 0)
        close(e->epfd); /* our descriptor only: the parent's set lives on */
    e->epfd = fd;
    e->pid = getpid();
    give_back(e); /* the parent's: the pool leaks them (their generation is older) */
    while ((t = e->running.head) != NULL) {
        t->forked = 1;
        t->lane = NULL; /* not ours to touch; its handle is leaked when checked in */
        unlink_from(&e->running, t);
        t->state = LCM_T_DONE;
        t->rc = CURLE_SEND_ERROR;
        link_tail(&e->done, t);
    }
}

/* The engine at idx for a thread's use, or NULL with the error pushed. */
static engine_t *enter(lua_State *L, int idx)
{
    engine_t *e = luaL_checkudata(L, idx, LCM_ENGINE_MT);
    const char *why = NULL;
    if (__atomic_exchange_n(&e->busy, 1, __ATOMIC_ACQUIRE)) {
        why = "the engine is being used by another thread: a Lua state and its clients belong to one thread at a time";
    } else if (e->closed) {
        __atomic_store_n(&e->busy, 0, __ATOMIC_RELEASE);
        why = "the engine is closed";
    }
    if (why != NULL) {
        lcm_error_push(L, "invalid", NULL, why);
        lua_pushliteral(L, "engine");
        lua_setfield(L, -2, "field");
        return NULL;
    }
    if (e->pid != getpid())
        forget_parent(e);
    return e;
}

static void leave(engine_t *e)
{
    __atomic_store_n(&e->busy, 0, __ATOMIC_RELEASE);
}

/* ---- Lua ---- */

/* core.engine() -> engine: the Lua state's one engine (kept in its registry), made at the
 * first call, or anew after engine:close(). The client's blocking calls and lcm.tasks share
 * it without either loading the other. */
static int engine_new(lua_State *L)
{
    engine_t *e;
    lua_getfield(L, LUA_REGISTRYINDEX, LCM_ENGINE_MT ".state");
    e = luaL_testudata(L, -1, LCM_ENGINE_MT);
    if (e != NULL && !e->closed)
        return 1;
    lua_pop(L, 1);
    e = lua_newuserdata(L, sizeof *e);
    memset(e, 0, sizeof *e);
    e->epfd = -1;
    e->closed = 1;
    luaL_setmetatable(L, LCM_ENGINE_MT);
    if ((e->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        lcm_error_push(L, "transport", "FAILED_INIT", "cannot make the engine's epoll set");
        return lcm_error_return(L);
    }
    e->pid = getpid();
    e->max_in_flight = 64;
    e->closed = 0;
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, LCM_ENGINE_MT ".state");
    return 1;
}

static lcm_transfer_t *new_transfer(lua_State *L)
{
    lcm_transfer_t *t = lua_newuserdata(L, sizeof *t);
    memset(t, 0, sizeof *t);
    t->self_ref = t->body_ref = t->http_ref = LUA_NOREF;
    t->state = LCM_T_TAKEN;
    luaL_setmetatable(L, LCM_TRANSFER_MT);
    return t;
}

/* A transfer for the request of stack slots 2.. (client, url, body, key, timeout, connect
 * timeout), pushed, with the Lua values it needs kept; or NULL with the error pushed (a
 * closed client). Everything that allocates in Lua happens here or after leave(): a memory
 * error (or a bad argument, a programming error of the Lua layer) raised here finds nothing
 * held, and the engine is never left busy. transfer_gc releases what a raise left kept. */
static lcm_transfer_t *prepare(lua_State *L)
{
    lcm_transfer_t *t;
    luaL_checkudata(L, 1, LCM_ENGINE_MT);
    t = new_transfer(L);
    lcm_transfer_args(L, 3, t);
    if ((t->http = lcm_http_check(L, 2)) == NULL)
        return NULL;
    lua_pushvalue(L, 4);
    t->body_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, 2);
    t->http_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* last: until it holds, gc can collect t */
    return t;
}

/* Submits t (prepared): it starts at once, or waits its turn past max_in_flight. C only:
 * the engine is busy. While lcm.stop() is under way it ends at once, nothing sent. */
static void submit(engine_t *e, lcm_transfer_t *t)
{
    t->engine = e;
    t->spare = &e->spare;
    if (e->stopping) {
        t->cancelled = 1;
        t->left = 0;
        t->state = LCM_T_DONE;
        link_tail(&e->done, t);
        return;
    }
    t->state = LCM_T_QUEUED;
    link_tail(&e->queued, t);
    start_queued(e);
}

/* prepare, then enter: the engine, busy, with *tp submitted; or NULL with the error pushed
 * (a closed client, another thread inside the engine), nothing kept. */
static engine_t *enter_submit(lua_State *L, lcm_transfer_t **tp)
{
    lcm_transfer_t *t = prepare(L);
    engine_t *e;
    if (t == NULL || (e = enter(L, 1)) == NULL) {
        if (t != NULL)
            unref_all(L, t);
        return NULL;
    }
    submit(e, t);
    *tp = t;
    return e;
}

/* engine:submit(client, url, body, key|nil, timeout_ms, connect_timeout_ms) -> transfer |
 * nil, err. */
static int engine_submit(lua_State *L)
{
    lcm_transfer_t *t;
    engine_t *e = enter_submit(L, &t);
    if (e == NULL)
        return lcm_error_return(L);
    leave(e);
    lua_pushvalue(L, -1);
    return 1;
}

/* Takes t off the done list: its result is the caller's now. */
static void take(lua_State *L, engine_t *e, lcm_transfer_t *t)
{
    unlink_from(&e->done, t);
    t->state = LCM_T_TAKEN;
    t->engine = NULL;
    unref_all(L, t);
}

/* Drives the engine until t has ended and takes it (busy: C only). */
static void wait_for(lua_State *L, engine_t *e, lcm_transfer_t *t)
{
    while (t->state == LCM_T_QUEUED || t->state == LCM_T_RUNNING)
        turn(e, MAX_WAIT_MS);
    if (t->state == LCM_T_DONE)
        take(L, e, t);
}

/* engine:perform(client, url, body, key|nil, timeout_ms, connect_timeout_ms)
 *   -> status, body, retry_after|nil  |  nil, err
 * A blocking call: submit, then wait for this request (the others move on meanwhile). */
static int engine_perform(lua_State *L)
{
    lcm_transfer_t *t;
    engine_t *e = enter_submit(L, &t);
    if (e == NULL)
        return lcm_error_return(L);
    wait_for(L, e, t);
    give_back(e); /* a blocking call's lane is for the next call of any thread */
    leave(e);
    return lcm_transfer_push(L, t); /* t stays on the stack below its result */
}

/* engine:wait(transfer) -> its result, as perform's. */
static int engine_wait(lua_State *L)
{
    lcm_transfer_t *t = luaL_checkudata(L, 2, LCM_TRANSFER_MT);
    engine_t *e;
    luaL_argcheck(L, t->engine == luaL_checkudata(L, 1, LCM_ENGINE_MT) || t->state == LCM_T_TAKEN, 2,
                  "a transfer of another engine");
    if ((e = enter(L, 1)) == NULL)
        return lcm_error_return(L);
    wait_for(L, e, t);
    give_back(e);
    leave(e);
    return lcm_transfer_push(L, t);
}

/* engine:step([wait_ms]) -> { transfer, ... }: one turn, waiting up to wait_ms (default 0)
 * for work; the transfers that have ended since the last step (their results: t:result()). */
static int engine_step(lua_State *L)
{
    long wait_ms = lua_isnoneornil(L, 2) ? 0 : (long)lcm_checkrange(L, 2, 0, 86400000);
    engine_t *e = enter(L, 1);
    int i = 0;
    if (e == NULL)
        return lcm_error_return(L);
    turn(e, wait_ms);
    leave(e);
    /* Each ended transfer stays in the done list (and the registry) until the list holds
     * it: a memory error here loses none, the next step reports it. */
    lua_createtable(L, (int)e->done.n, 0);
    while (e->done.head != NULL) {
        lcm_transfer_t *t = e->done.head;
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
        lua_rawseti(L, -2, ++i);
        take(L, e, t);
    }
    return 1;
}

/* engine:timeout() -> ms until the engine needs a step (0: now), or nil with nothing to do. */
static int engine_timeout(lua_State *L)
{
    engine_t *e = luaL_checkudata(L, 1, LCM_ENGINE_MT);
    double now = lcm_monotonic_ms(), soonest;
    if (e->done.n > 0 || (e->queued.n > 0 && e->running.n < e->max_in_flight)) {
        lua_pushinteger(L, 0);
        return 1;
    }
    soonest = soonest_timer(e);
    if (soonest < 0)
        lua_pushnil(L);
    else
        lua_pushinteger(L, soonest <= now ? 0 : (lua_Integer)(soonest - now) + 1);
    return 1;
}

/* engine:fd() -> the epoll descriptor that is readable when a running request has work. */
static int engine_fd(lua_State *L)
{
    engine_t *e = luaL_checkudata(L, 1, LCM_ENGINE_MT);
    lua_pushinteger(L, e->epfd);
    return 1;
}

/* engine:counts() -> running, queued, done (not yet reported) */
static int engine_counts(lua_State *L)
{
    engine_t *e = luaL_checkudata(L, 1, LCM_ENGINE_MT);
    lua_pushinteger(L, (lua_Integer)e->running.n);
    lua_pushinteger(L, (lua_Integer)e->queued.n);
    lua_pushinteger(L, (lua_Integer)e->done.n);
    return 3;
}

/* engine:configure{ max_in_flight = n } -> true | nil, err */
static int engine_configure(lua_State *L)
{
    engine_t *e = luaL_checkudata(L, 1, LCM_ENGINE_MT);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "max_in_flight");
    if (!lua_isnil(L, -1)) {
        lua_Number n = lua_tonumber(L, -1);
        if (!lcm_inrange(L, -1, 1, MAX_IN_FLIGHT) || n != (lua_Number)(long)n) {
            lcm_error_push(L, "invalid", NULL, "max_in_flight must be an integer from 1 to 100000");
            lua_pushliteral(L, "max_in_flight");
            lua_setfield(L, -2, "field");
            return lcm_error_return(L);
        }
        e->max_in_flight = (long)n;
    }
    lua_pop(L, 1);
    lua_pushboolean(L, 1);
    return 1;
}

/* Ends every request now (cancelled): queued ones sent nothing; running ones may have. */
static void cancel_all(engine_t *e)
{
    lcm_transfer_t *t;
    while ((t = e->queued.head) != NULL) {
        t->cancelled = 1;
        t->left = 0;
        finish(e, t, CURLE_ABORTED_BY_CALLBACK);
    }
    while ((t = e->running.head) != NULL) {
        t->cancelled = 1;
        finish(e, t, CURLE_ABORTED_BY_CALLBACK);
    }
}

/* engine:cancel([stopping]) -> ended: every request ends now, as cancelled. With stopping
 * true, later submits end at once too, until engine:cancel(false). */
static int engine_cancel(lua_State *L)
{
    engine_t *e = enter(L, 1);
    long n;
    if (e == NULL)
        return lcm_error_return(L);
    n = e->queued.n + e->running.n;
    if (!lua_isnoneornil(L, 2))
        e->stopping = lua_toboolean(L, 2);
    cancel_all(e);
    leave(e);
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

/* close and __gc: one function, safe to call twice. Requests still running are cancelled
 * (their lanes go back to the pool); results not yet reported are dropped. */
static int engine_close(lua_State *L)
{
    engine_t *e = luaL_checkudata(L, 1, LCM_ENGINE_MT);
    lcm_transfer_t *t;
    if (e->closed)
        return 0;
    if (e->pid != getpid())
        forget_parent(e);
    cancel_all(e);
    give_back(e);
    while ((t = e->done.head) != NULL)
        take(L, e, t);
    if (e->epfd >= 0)
        close(e->epfd);
    e->epfd = -1;
    e->closed = 1;
    return 0;
}

/* transfer:result() -> status, body, retry_after|nil  |  nil, err (once it has ended). */
static int transfer_result(lua_State *L)
{
    lcm_transfer_t *t = luaL_checkudata(L, 1, LCM_TRANSFER_MT);
    luaL_argcheck(L, t->state == LCM_T_TAKEN || t->state == LCM_T_DONE, 1, "the request has not ended");
    return lcm_transfer_push(L, t);
}

/* transfer:done() -> whether it has ended. */
static int transfer_done(lua_State *L)
{
    lcm_transfer_t *t = luaL_checkudata(L, 1, LCM_TRANSFER_MT);
    lua_pushboolean(L, t->state == LCM_T_TAKEN || t->state == LCM_T_DONE);
    return 1;
}

/* __gc: a transfer the engine still holds is only collected with its Lua state (the
 * registry keeps it): taken off its lane first. */
static int transfer_gc(lua_State *L)
{
    lcm_transfer_t *t = luaL_checkudata(L, 1, LCM_TRANSFER_MT);
    engine_t *e = t->engine;
    if (e != NULL && !e->closed && t->state != LCM_T_TAKEN) {
        if (t->state != LCM_T_DONE) {
            t->cancelled = 1;
            finish(e, t, CURLE_ABORTED_BY_CALLBACK);
        }
        unlink_from(&e->done, t);
        t->state = LCM_T_TAKEN;
    }
    t->engine = NULL;
    unref_all(L, t); /* what a memory error in prepare left kept */
    lcm_transfer_free(t);
    return 0;
}

void lcm_engine_open(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"submit", engine_submit}, {"perform", engine_perform}, {"wait", engine_wait},
        {"step", engine_step},     {"timeout", engine_timeout}, {"fd", engine_fd},
        {"counts", engine_counts}, {"configure", engine_configure}, {"cancel", engine_cancel},
        {"close", engine_close},   {NULL, NULL},
    };
    static const luaL_Reg transfer_methods[] = {{"result", transfer_result}, {"done", transfer_done}, {NULL, NULL}};
    static const luaL_Reg fns[] = {{"engine", engine_new}, {NULL, NULL}};
    lcm_newclass(L, LCM_ENGINE_MT, methods, engine_close);
    lcm_newclass(L, LCM_TRANSFER_MT, transfer_methods, transfer_gc);
    luaL_setfuncs(L, fns, 0);
}
