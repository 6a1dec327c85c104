/* lcm-sim: a local LCM WebService for tests, the demo and users' own dialplan tests.
 *
 * HTTP is libmicrohttpd with a thread per connection, so a delay armed on one
 * connection never stalls another. What to answer is decided by sim/handler.lua (compiled
 * in) in one Lua state behind one lock; the handler returns a plan (status, body, headers,
 * delay, drop, truncate, stream) that this file carries out after the lock is released. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <microhttpd.h>

#include "sim_handler.h" /* lua_chunks[0]: sim/handler.lua, by tools/embed_lua.lua */

#define MAX_BODY (8 * 1024 * 1024)

typedef struct {
    pthread_mutex_t lock; /* guards L and the counters */
    lua_State *L;
    int handle_ref;
    unsigned long connections;
    unsigned long long streamed; /* bytes sent by stream faults, to show a client stopped early */
    int quiet;
} sim_t;

typedef struct {
    char *data;
    size_t len, cap;
    int too_big;
} body_t;

typedef struct {
    int status;
    char *body;
    size_t len;
    long delay_ms;
    int drop, truncate;
    size_t stream;
    char **headers; /* name, value, name, value, ..., NULL */
} plan_t;

typedef struct {
    sim_t *sim;
    char *body;
    size_t len, limit;
} reader_t;

static void plan_free(plan_t *p)
{
    size_t i;
    free(p->body);
    for (i = 0; p->headers != NULL && p->headers[i] != NULL; i++)
        free(p->headers[i]);
    free(p->headers);
}

/* A malloc'd copy of the string at idx; "" for anything that is not a string or number. */
static char *dup_lua(lua_State *L, int idx, size_t *len)
{
    size_t n = 0;
    const char *s = lua_tolstring(L, idx, &n);
    char *d;
    if (s == NULL)
        n = 0;
    d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s ? s : "", n);
        d[n] = '\0';
    }
    if (len != NULL)
        *len = n;
    return d;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    lua_State *L = cls;
    (void)kind;
    lua_pushstring(L, value ? value : "");
    lua_setfield(L, -2, key);
    return MHD_YES;
}

static int lua_connections(lua_State *L)
{
    sim_t *sim = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushinteger(L, (lua_Integer)sim->connections);
    lua_pushinteger(L, (lua_Integer)sim->streamed);
    return 2;
}

/* Runs handler.handle(method, path, body, headers) under the lock and copies its plan out. */
static void decide(sim_t *sim, struct MHD_Connection *c, const char *method, const char *url, const body_t *b,
                   plan_t *p)
{
    lua_State *L = sim->L;
    memset(p, 0, sizeof *p);
    pthread_mutex_lock(&sim->lock);
    lua_rawgeti(L, LUA_REGISTRYINDEX, sim->handle_ref);
    lua_pushstring(L, method);
    lua_pushstring(L, url);
    lua_pushlstring(L, b->data ? b->data : "", b->len);
    lua_newtable(L);
    MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, L);
    lua_pushboolean(L, b->too_big);
    if (lua_pcall(L, 5, 1, 0) != LUA_OK || !lua_istable(L, -1)) {
        fprintf(stderr, "lcm-sim: handler failed: %s\n", lua_tostring(L, -1));
        p->status = 500;
        p->body = strdup("{\"channel\":\"LCM\",\"topic\":\"Error\",\"subtopic\":\"WS_Error\",\"data\":"
                         "{\"errorType\":\"WS_Error\",\"errorMessage\":\"simulator failure\",\"msg\":\"Internal error.\"}}");
        p->len = p->body ? strlen(p->body) : 0;
    } else {
        /* Plain lua_to* only: this runs outside lua_pcall, where a raised error would
         * abort the simulator. */
        lua_getfield(L, -1, "status");
        p->status = lua_isnumber(L, -1) ? (int)lua_tonumber(L, -1) : 200;
        lua_getfield(L, -2, "body");
        p->body = dup_lua(L, -1, &p->len);
        lua_getfield(L, -3, "delay_ms");
        p->delay_ms = (long)lua_tonumber(L, -1);
        lua_getfield(L, -4, "drop");
        p->drop = lua_toboolean(L, -1);
        lua_getfield(L, -5, "truncate");
        p->truncate = lua_toboolean(L, -1);
        lua_getfield(L, -6, "stream_bytes");
        p->stream = lua_tonumber(L, -1) > 0 ? (size_t)lua_tonumber(L, -1) : 0;
        lua_pop(L, 6);
        lua_getfield(L, -1, "headers");
        if (lua_istable(L, -1)) {
            size_t n = 0; /* dup_lua copies only strings; anything else becomes "" */
            p->headers = calloc(2 * lua_rawlen(L, -1) + 1, sizeof *p->headers);
            for (lua_Integer i = 1; p->headers != NULL && i <= (lua_Integer)lua_rawlen(L, -1); i++) {
                lua_rawgeti(L, -1, i);
                lua_rawgeti(L, -1, 1);
                lua_rawgeti(L, -2, 2);
                p->headers[n++] = dup_lua(L, -2, NULL);
                p->headers[n++] = dup_lua(L, -1, NULL);
                lua_pop(L, 3);
            }
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    pthread_mutex_unlock(&sim->lock);
}

static ssize_t read_partial(void *cls, uint64_t pos, char *buf, size_t max)
{
    reader_t *r = cls;
    size_t n;
    if (pos >= r->limit)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* cut the connection mid-body */
    n = r->limit - (size_t)pos < max ? r->limit - (size_t)pos : max;
    memcpy(buf, r->body + pos, n);
    return (ssize_t)n;
}

static ssize_t read_stream(void *cls, uint64_t pos, char *buf, size_t max)
{
    static const char head[] = "{\"channel\":\"LCM\",\"topic\":\"WebService\",\"pad\":\"";
    reader_t *r = cls;
    size_t n, i;
    if (pos >= r->limit)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = r->limit - (size_t)pos < max ? r->limit - (size_t)pos : max;
    for (i = 0; i < n; i++)
        buf[i] = pos + i < sizeof head - 1 ? head[pos + i] : 'x';
    pthread_mutex_lock(&r->sim->lock);
    r->sim->streamed += n;
    pthread_mutex_unlock(&r->sim->lock);
    return (ssize_t)n;
}

static void free_reader(void *cls)
{
    reader_t *r = cls;
    free(r->body);
    free(r);
}

static enum MHD_Result respond(sim_t *sim, struct MHD_Connection *c, plan_t *p)
{
    struct MHD_Response *res;
    enum MHD_Result ret;
    size_t i;
    if (p->delay_ms > 0) {
        struct timespec ts = {p->delay_ms / 1000, (p->delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (p->drop)
        return MHD_NO; /* closes the connection without an answer */
    if (p->truncate || p->stream) {
        reader_t *r = calloc(1, sizeof *r);
        if (r == NULL)
            return MHD_NO;
        r->sim = sim;
        r->body = p->body;
        r->len = p->len;
        r->limit = p->stream ? p->stream : p->len / 2;
        p->body = NULL; /* now owned by the reader */
        res = MHD_create_response_from_callback(p->stream ? MHD_SIZE_UNKNOWN : (uint64_t)r->len, 16 * 1024,
                                                p->stream ? read_stream : read_partial, r, free_reader);
    } else {
        res = MHD_create_response_from_buffer(p->len, p->body, MHD_RESPMEM_MUST_COPY);
    }
    if (res == NULL)
        return MHD_NO;
    for (i = 0; p->headers != NULL && p->headers[i] != NULL && p->headers[i + 1] != NULL; i += 2)
        MHD_add_response_header(res, p->headers[i], p->headers[i + 1]);
    ret = MHD_queue_response(c, (unsigned)p->status, res);
    MHD_destroy_response(res);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **ctx)
{
    sim_t *sim = cls;
    body_t *b = *ctx;
    plan_t plan;
    enum MHD_Result ret;
    (void)version;
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        *ctx = b;
        return b ? MHD_YES : MHD_NO;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        if (b->len + n > MAX_BODY) {
            b->too_big = 1;
        } else {
            if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 4096;
                char *d;
                while (cap < b->len + n)
                    cap *= 2;
                d = realloc(b->data, cap);
                if (d == NULL)
                    return MHD_NO;
                b->data = d;
                b->cap = cap;
            }
            memcpy(b->data + b->len, upload, n);
            b->len += n;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    decide(sim, c, method, url, b, &plan);
    if (!sim->quiet)
        fprintf(stderr, "lcm-sim: %s %s -> %d%s\n", method, url, plan.status, plan.drop ? " (dropped)" : "");
    ret = respond(sim, c, &plan);
    plan_free(&plan);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode toe)
{
    body_t *b = *ctx;
    (void)cls;
    (void)c;
    (void)toe;
    if (b != NULL) {
        free(b->data);
        free(b);
        *ctx = NULL;
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    sim_t *sim = cls;
    (void)c;
    (void)socket_ctx;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&sim->lock);
        sim->connections++;
        pthread_mutex_unlock(&sim->lock);
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *d = NULL;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (d = malloc((size_t)n + 1)) != NULL) {
        if (fread(d, 1, (size_t)n, f) != (size_t)n) {
            free(d);
            d = NULL;
        } else {
            d[n] = '\0';
        }
    }
    fclose(f);
    return d;
}

static int write_port(const char *path, unsigned port)
{
    char tmp[4096];
    FILE *f;
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    f = fopen(tmp, "w");
    if (f == NULL)
        return 0;
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        return 0;
    return rename(tmp, path) == 0; /* a reader never sees a half-written port */
}

static void usage(void)
{
    fprintf(stderr, "usage: lcm-sim [--host 127.0.0.1] [--port N (0 = any free port)] [--port-file FILE]\n"
                    "               [--fixtures FILE.json] [--cert FILE --key FILE] [--quiet]\n"
                    "               [--parent PID (stop when PID ends; Linux)]\n");
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *port_file = NULL, *fixtures = NULL, *cert_path = NULL, *key_path = NULL;
    char *cert = NULL, *key = NULL;
    long port = 8089, parent = 0;
    sim_t sim;
    struct sockaddr_in addr;
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    sigset_t sigs;
    int i, sig;

    memset(&sim, 0, sizeof sim);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quiet") == 0) {
            sim.quiet = 1;
            continue;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        i++;
        if (strcmp(a, "--host") == 0)
            host = v;
        else if (strcmp(a, "--port") == 0)
            port = strtol(v, NULL, 10);
        else if (strcmp(a, "--port-file") == 0)
            port_file = v;
        else if (strcmp(a, "--fixtures") == 0)
            fixtures = v;
        else if (strcmp(a, "--cert") == 0)
            cert_path = v;
        else if (strcmp(a, "--key") == 0)
            key_path = v;
        else if (strcmp(a, "--parent") == 0)
            parent = strtol(v, NULL, 10);
        else {
            usage();
            return 2;
        }
    }
    if (port < 0 || port > 65535 || (cert_path == NULL) != (key_path == NULL)) {
        usage();
        return 2;
    }

    /* --parent PID (`lcm sim`, issue 16 item 12): the simulator stops with the process that
     * started it, so `kill PID` of `lcm sim` leaves no lcm-sim behind. The death signal is
     * SIGTERM, taken by the sigwait below like any other; a parent already gone (before
     * prctl) is seen by getppid. Elsewhere than Linux the option is accepted and ignored. */
    if (parent > 0) {
#ifdef __linux__
        (void)prctl(PR_SET_PDEATHSIG, SIGTERM);
        if ((long)getppid() != parent)
            return 0;
#endif
    }

    sim.L = luaL_newstate();
    if (sim.L == NULL)
        return 1;
    luaL_openlibs(sim.L);
    if (luaL_loadbuffer(sim.L, (const char *)lua_chunks[0].code, lua_chunks[0].len, lua_chunks[0].chunkname) !=
        LUA_OK) {
        fprintf(stderr, "lcm-sim: %s\n", lua_tostring(sim.L, -1));
        return 1;
    }
    if (fixtures)
        lua_pushstring(sim.L, fixtures);
    else
        lua_pushnil(sim.L);
    lua_pushlightuserdata(sim.L, &sim);
    lua_pushcclosure(sim.L, lua_connections, 1);
    if (lua_pcall(sim.L, 2, 1, 0) != LUA_OK || !lua_isfunction(sim.L, -1)) {
        fprintf(stderr, "lcm-sim: %s\n", lua_tostring(sim.L, -1));
        return 1;
    }
    sim.handle_ref = luaL_ref(sim.L, LUA_REGISTRYINDEX);
    pthread_mutex_init(&sim.lock, NULL);

    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "lcm-sim: --host must be an IPv4 address\n");
        return 2;
    }
    if (cert_path != NULL) {
        cert = read_file(cert_path);
        key = read_file(key_path);
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "lcm-sim: cannot read %s or %s\n", cert_path, key_path);
            return 1;
        }
        flags |= MHD_USE_TLS;
    }

    /* Signals are taken by sigwait below, so block them in every thread MHD starts. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (cert != NULL)
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sim, MHD_OPTION_SOCK_ADDR, &addr,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                             on_connection, &sim, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_HTTPS_MEM_CERT,
                             cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &sim, MHD_OPTION_SOCK_ADDR, &addr,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION,
                             on_connection, &sim, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
    if (d == NULL) {
        fprintf(stderr, "lcm-sim: cannot listen on %s:%ld\n", host, port);
        return 1;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    if (info == NULL || (port_file != NULL && !write_port(port_file, info->port))) {
        fprintf(stderr, "lcm-sim: cannot learn or record the port\n");
        MHD_stop_daemon(d);
        return 1;
    }
    fprintf(stderr, "lcm-sim: listening on %s://%s:%u/\n", cert ? "https" : "http", host, (unsigned)info->port);

    sigwait(&sigs, &sig);
    MHD_stop_daemon(d);
    lua_close(sim.L);
    pthread_mutex_destroy(&sim.lock);
    free(cert);
    free(key);
    return 0;
}
