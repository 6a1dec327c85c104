/* lcm.outbox.postgresql: the outbox on PostgreSQL (lua/lcm/outbox/pg.lua), with the few
 * libpq calls it needs. A module of its own, linked with libpq: lcm.core is not, so that
 * `require "lcm"` on a PBX without PostgreSQL loads and costs nothing more.
 *
 * The Lua half is carried in this object as source (tools/embed_lua.lua) and run by
 * luaopen with the driver table below as its argument: one file to install per Lua, and
 * the Lua can never be of another build than the C it calls.
 *
 * Every statement goes through PQexecParams with its parameters and its results in binary
 * format: a bytea (the request body) travels as its exact bytes, and text as its bytes,
 * with no quoting and no encoding to get wrong. The SQL therefore casts every result
 * column that is neither text nor bytea to text (id::text...), and the driver hands Lua
 * plain strings (false for NULL). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "compat.h"
#include "module.h"

#define LCM_EXPORT __attribute__((visibility("default")))
#define CONN_MT "lcm.outbox.postgresql.conn"
#define BOX_MT "lcm.outbox.postgresql.box"
#define MAX_PARAMS 16
/* A connection attempt that waits longer than this for an unreachable server holds a
 * dialer's call: libpq's own default is to wait for ever. PGCONNECT_TIMEOUT or the URI's
 * connect_timeout overrides it. */
#define DEFAULT_CONNECT_TIMEOUT "5"

#include "pg_modules.h"

LCM_EXPORT int luaopen_lcm_outbox_postgresql(lua_State *L);

typedef struct {
    PGconn *conn;
} conn_t;

/* Memory libpq allocated (a PGresult, parsed options, an error message) owned by a
 * userdata made before it exists, so that the GC frees it when a push raises (out of
 * memory) while it is copied into Lua. */
typedef struct {
    void *p;
    void (*free)(void *);
} box_t;

static int box_gc(lua_State *L)
{
    box_t *b = luaL_checkudata(L, 1, BOX_MT);
    if (b->p != NULL)
        b->free(b->p);
    b->p = NULL;
    return 0;
}

static box_t *new_box(lua_State *L, void (*free_fn)(void *))
{
    box_t *b = lua_newuserdata(L, sizeof *b);
    b->p = NULL;
    b->free = free_fn;
    luaL_setmetatable(L, BOX_MT);
    return b;
}

static void free_result(void *p) { PQclear(p); }
static void free_options(void *p) { PQconninfoFree(p); }

/* libpq's messages end in a newline and may run over several lines (DETAIL, HINT): pushed
 * as one line, for a log line or an error's message. */
static void push_message(lua_State *L, const char *msg)
{
    luaL_Buffer b;
    size_t n, i;
    if (msg == NULL || *msg == '\0')
        msg = "unknown libpq error";
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        n--;
    luaL_buffinit(L, &b);
    for (i = 0; i < n; i++) {
        if (msg[i] == '\n') {
            luaL_addlstring(&b, "; ", 2);
            while (i + 1 < n && (msg[i + 1] == '\t' || msg[i + 1] == ' '))
                i++; /* libpq indents its HINT lines */
        } else
            luaL_addchar(&b, msg[i]);
    }
    luaL_pushresult(&b);
}

/* pq.parse(conninfo) -> { keyword = value } of what the string sets | nil, message
 * A malformed URI or an unknown parameter is libpq's error, said before any connection. */
static int pq_parse(lua_State *L)
{
    const char *info = luaL_checkstring(L, 1);
    box_t *opts = new_box(L, free_options), *err = new_box(L, PQfreemem);
    char *msg = NULL;
    PQconninfoOption *o;
    opts->p = PQconninfoParse(info, &msg);
    err->p = msg;
    if (opts->p == NULL) {
        lua_pushnil(L);
        push_message(L, msg != NULL ? msg : "out of memory");
        return 2;
    }
    lua_newtable(L);
    for (o = opts->p; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        lua_pushstring(L, o->val);
        lua_setfield(L, -2, o->keyword);
    }
    return 1;
}

/* libpq prints the server's notices (NOTICE: relation exists, skipping) to stderr: a
 * PBX's console is no place for them. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* pq.connect(conninfo) -> conn | nil, message
 * libpq's environment variables and ~/.pgpass fill in what the string leaves out. */
static int pq_connect(lua_State *L)
{
    const char *info = luaL_checkstring(L, 1);
    const char *keys[4], *vals[4];
    int n = 0;
    conn_t *c = lua_newuserdata(L, sizeof *c);
    c->conn = NULL;
    luaL_setmetatable(L, CONN_MT);
    /* defaults first: the string's own values (dbname is expanded in place) override them */
    if (getenv("PGCONNECT_TIMEOUT") == NULL) {
        keys[n] = "connect_timeout";
        vals[n++] = DEFAULT_CONNECT_TIMEOUT;
    }
    keys[n] = "fallback_application_name";
    vals[n++] = "lcm";
    keys[n] = "dbname";
    vals[n++] = info;
    keys[n] = NULL;
    vals[n] = NULL;
    c->conn = PQconnectdbParams(keys, vals, 1);
    if (c->conn == NULL || PQstatus(c->conn) != CONNECTION_OK) {
        lua_pushnil(L);
        /* a raise here leaves the connection to the userdata's __gc */
        push_message(L, c->conn != NULL ? PQerrorMessage(c->conn) : "out of memory");
        if (c->conn != NULL)
            PQfinish(c->conn);
        c->conn = NULL;
        return 2;
    }
    PQsetNoticeProcessor(c->conn, quiet, NULL);
    return 1;
}

static int conn_close(lua_State *L)
{
    conn_t *c = luaL_checkudata(L, 1, CONN_MT);
    if (c->conn != NULL)
        PQfinish(c->conn);
    c->conn = NULL;
    return 0;
}

/* conn:exec(sql, param...) -> rows, affected | nil, message, sqlstate, broken
 * param: a string or false/nil for NULL. rows: { { col, ... }, ... } with false for NULL;
 * affected: the number of rows the command changed (0 for a SELECT's). broken: the
 * connection is gone (a terminated backend, a restart): the caller connects again. */
static int conn_exec(lua_State *L)
{
    conn_t *c = luaL_checkudata(L, 1, CONN_MT);
    const char *sql = luaL_checkstring(L, 2);
    const char *values[MAX_PARAMS];
    int lengths[MAX_PARAMS], formats[MAX_PARAMS];
    int n = lua_gettop(L) - 2, i, rows, cols, status;
    PGresult *res;
    box_t *r;
    luaL_argcheck(L, n <= MAX_PARAMS, MAX_PARAMS + 3, "too many parameters");
    for (i = 0; i < n; i++) {
        size_t len = 0;
        int t = lua_type(L, i + 3);
        luaL_argcheck(L, t == LUA_TSTRING || t == LUA_TNIL || t == LUA_TBOOLEAN, i + 3, "string or nil expected");
        values[i] = t == LUA_TSTRING ? lua_tolstring(L, i + 3, &len) : NULL;
        luaL_argcheck(L, len < 0x7fffffff, i + 3, "parameter too long");
        lengths[i] = (int)len;
        formats[i] = 1;
    }
    if (c->conn == NULL) {
        lua_pushnil(L);
        lua_pushliteral(L, "the connection is closed");
        lua_pushliteral(L, "08003");
        lua_pushboolean(L, 1);
        return 4;
    }
    r = new_box(L, free_result); /* before the result exists: this may raise */
    r->p = PQexecParams(c->conn, sql, n, NULL, values, lengths, formats, 1);
    res = r->p;
    status = res != NULL ? (int)PQresultStatus(res) : (int)PGRES_FATAL_ERROR;
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
        const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = res != NULL ? PQresultErrorMessage(res) : NULL;
        lua_pushnil(L);
        push_message(L, msg != NULL && *msg != '\0' ? msg : PQerrorMessage(c->conn));
        /* no SQLSTATE: the server never answered (libpq's own failure): class 08 */
        lua_pushstring(L, state != NULL ? state : "08006");
        lua_pushboolean(L, PQstatus(c->conn) != CONNECTION_OK);
        return 4;
    }
    rows = PQntuples(res);
    cols = PQnfields(res);
    lua_createtable(L, rows, 0);
    for (i = 0; i < rows; i++) {
        int j;
        lua_createtable(L, cols, 0);
        for (j = 0; j < cols; j++) {
            if (PQgetisnull(res, i, j))
                lua_pushboolean(L, 0);
            else
                lua_pushlstring(L, PQgetvalue(res, i, j), (size_t)PQgetlength(res, i, j));
            lua_rawseti(L, -2, j + 1);
        }
        lua_rawseti(L, -2, i + 1);
    }
    lua_pushinteger(L, (lua_Integer)atol(PQcmdTuples(res)));
    PQclear(res);
    r->p = NULL;
    return 2;
}

/* pq.hostname() -> this machine's name, for the record's host column */
static int pq_hostname(lua_State *L)
{
    char name[256];
    if (gethostname(name, sizeof name) != 0)
        strcpy(name, "unknown");
    name[sizeof name - 1] = '\0';
    lua_pushstring(L, name);
    return 1;
}

/* pq.libpq_version() -> libpq's version number (150003...) */
static int pq_version(lua_State *L)
{
    lua_pushinteger(L, PQlibVersion());
    return 1;
}

LCM_EXPORT int luaopen_lcm_outbox_postgresql(lua_State *L)
{
    static const luaL_Reg conn_methods[] = {{"exec", conn_exec}, {"close", conn_close}, {NULL, NULL}};
    static const luaL_Reg driver[] = {{"parse", pq_parse},
                                      {"connect", pq_connect},
                                      {"hostname", pq_hostname},
                                      {"libpq_version", pq_version},
                                      {NULL, NULL}};
    lcm_newclass(L, CONN_MT, conn_methods, conn_close);
    luaL_newmetatable(L, BOX_MT);
    lua_pushcfunction(L, box_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    /* lua_chunks[0]: lua/lcm/outbox/pg.lua's source, run with the driver table */
    if (luaL_loadbuffer(L, (const char *)lua_chunks[0].code, lua_chunks[0].len, lua_chunks[0].chunkname) != 0)
        return lua_error(L);
    luaL_newlib(L, driver);
    lua_call(L, 1, 1);
    return 1;
}
