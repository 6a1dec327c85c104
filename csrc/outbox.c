/* The outbox's durable file operations. Plain Lua has neither fsync nor file locks.
 *
 * A directory holds outbox.log (appended by set_outcome when LCM cannot be reached),
 * outbox.flushing (the batch a flush is replaying), dead.log (records that failed for
 * good) and flush.lock (one flush at a time). A record is
 *     "LCM1 <payload length> <crc32 of payload, 8 hex digits>\n" <payload> "\n"
 * so a torn record (a writer killed mid-append) or a damaged one is detected, never
 * replayed as garbage. Appends take an exclusive flock on the file and fsync it before
 * returning: once a caller has seen err.queued == true, the outcome is on disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "lcm.h"

#define LCM_LOCK_MT "lcm.outbox_lock"
#define MAGIC "LCM1 "
#define MAX_HEADER 40
#define MAX_PATH 4096

static int join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, MAX_PATH, "%s/%s", dir, name);
    return n > 0 && n < MAX_PATH;
}

static int lock_fd(int fd, int how)
{
    while (flock(fd, how) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Makes a new directory entry durable, not only the file's data. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;
    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

static int fail(lua_State *L, const char *what, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "outbox: %s %s: %s", what, path, strerror(err));
    return 2;
}

static size_t header(char *out, size_t len, const char *payload)
{
    uLong crc = crc32(0L, (const Bytef *)payload, (uInt)len);
    return (size_t)snprintf(out, MAX_HEADER, MAGIC "%lu %08lx\n", (unsigned long)len, (unsigned long)crc);
}

/* Appends records[1..n] (strings) to fd in one write, then fsyncs. 0 or an errno. */
static int append_records(lua_State *L, int fd, int records)
{
    size_t i, n = lua_rawlen(L, records), total = 0, off = 0;
    char *buf;
    int err = 0;
    for (i = 1; i <= n; i++) {
        lua_rawgeti(L, records, (lua_Integer)i);
        total += lua_rawlen(L, -1) + MAX_HEADER + 1;
        lua_pop(L, 1);
    }
    if (total == 0)
        return 0;
    buf = malloc(total);
    if (buf == NULL)
        return ENOMEM;
    for (i = 1; i <= n; i++) {
        size_t len;
        const char *s;
        lua_rawgeti(L, records, (lua_Integer)i);
        s = lua_tolstring(L, -1, &len);
        off += header(buf + off, len, s);
        memcpy(buf + off, s, len);
        off += len;
        buf[off++] = '\n';
        lua_pop(L, 1);
    }
    if (write_all(fd, buf, off) != 0 || fsync(fd) != 0)
        err = errno;
    free(buf);
    return err;
}

/* core.outbox_append(dir, file, payload) -> true | nil, message */
static int outbox_append(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    char path[MAX_PATH];
    struct stat st;
    int fd, err, created;
    luaL_checkstring(L, 3);
    if (!join(path, dir, name))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    /* One record, as a list, for append_records. Built before any file is open, so an
     * allocation error raised here cannot leak a descriptor or a lock. */
    lua_createtable(L, 1, 0);
    lua_pushvalue(L, 3);
    lua_rawseti(L, -2, 1);
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(L, "cannot open", path, errno);
    if (lock_fd(fd, LOCK_EX) != 0 || fstat(fd, &st) != 0) {
        err = errno;
        close(fd);
        return fail(L, "cannot lock", path, err);
    }
    created = st.st_size == 0;
    err = append_records(L, fd, lua_gettop(L));
    close(fd); /* releases the lock */
    if (err == 0 && created && sync_dir(dir) != 0)
        err = errno;
    if (err != 0)
        return fail(L, "cannot write", path, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* Reads a whole file into a userdata buffer (freed by the GC, even if a later push
 * raises). Pushes the buffer; returns its data, or NULL with errno set (ENOENT: none). */
static char *slurp(lua_State *L, int fd, size_t *len)
{
    struct stat st;
    char *buf;
    size_t off = 0;
    if (fstat(fd, &st) != 0)
        return NULL;
    buf = lua_newuserdata(L, (size_t)st.st_size + 1);
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    *len = off;
    return buf;
}

/* The offset of the next line starting a record after `from`, or len. */
static size_t next_header(const char *buf, size_t len, size_t from)
{
    const char *p = buf + from;
    while (p < buf + len && (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL) {
        if ((size_t)(buf + len - (p + 1)) >= 5 && memcmp(p + 1, MAGIC, 5) == 0)
            return (size_t)(p + 1 - buf);
        p++;
    }
    return len;
}

/* Parses the record at pos: 1 and its payload when whole and intact; 0 when damaged;
 * -1 when it runs past the end of the file (torn, if no record follows it). */
static int parse_record(const char *buf, size_t len, size_t pos, const char **payload, size_t *plen,
                        size_t *next)
{
    char head[MAX_HEADER + 1];
    size_t hmax = len - pos < MAX_HEADER ? len - pos : MAX_HEADER, hlen;
    const char *nl = memchr(buf + pos, '\n', hmax);
    unsigned long n, crc;
    int used = 0;
    if (nl == NULL)
        return memcmp(buf + pos, MAGIC, hmax < 5 ? hmax : 5) == 0 && hmax < MAX_HEADER ? -1 : 0;
    hlen = (size_t)(nl - (buf + pos)) + 1;
    memcpy(head, buf + pos, hlen);
    head[hlen] = '\0';
    if (hlen < 7 || head[5] < '0' || head[5] > '9' || sscanf(head, MAGIC "%lu %8lx%n", &n, &crc, &used) != 2 ||
        (size_t)used != hlen - 1)
        return 0;
    if (n >= len || n + 1 > len - pos - hlen)
        return -1;
    *payload = buf + pos + hlen;
    *plen = n;
    *next = pos + hlen + n + 1;
    return (*payload)[n] == '\n' && crc32(0L, (const Bytef *)*payload, (uInt)n) == crc;
}

/* core.outbox_read(path) -> { payload, ... }, corrupt_count, torn
 * A missing file is an empty outbox. A damaged record is counted and skipped up to the
 * next record header. A record cut short by the end of the file, with none after it, is
 * torn: a writer was killed while appending it, and its caller never saw queued = true. */
static int outbox_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t len = 0, pos = 0;
    int n = 0, corrupt = 0, torn = 0;
    const char *buf;
    if (fd < 0) {
        if (errno != ENOENT)
            return fail(L, "cannot open", path, errno);
        lua_newtable(L);
        lua_pushinteger(L, 0);
        lua_pushboolean(L, 0);
        return 3;
    }
    buf = slurp(L, fd, &len);
    close(fd);
    if (buf == NULL)
        return fail(L, "cannot read", path, errno);
    lua_newtable(L);
    while (pos < len) {
        const char *payload = NULL;
        size_t plen = 0, next = len;
        int r = parse_record(buf, len, pos, &payload, &plen, &next);
        if (r == 1) {
            lua_pushlstring(L, payload, plen);
            lua_rawseti(L, -2, ++n);
            pos = next;
            continue;
        }
        next = next_header(buf, len, pos);
        if (r == -1 && next == len) {
            torn = 1;
            break;
        }
        corrupt++;
        pos = next;
    }
    lua_pushinteger(L, corrupt);
    lua_pushboolean(L, torn);
    return 3;
}

/* core.outbox_take(dir) -> true | nil, message
 * Moves what outbox.log holds to the end of outbox.flushing. Copy then truncate, under
 * the appenders' lock, never rename: an appender blocked on the lock of a renamed file
 * would write its record into the batch a flush has already read. A crash between the
 * copy and the truncate replays records, which their Idempotency-Key makes harmless. */
static int outbox_take(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char log[MAX_PATH], flushing[MAX_PATH];
    int fd, out, err = 0;
    size_t len = 0;
    const char *buf;
    if (!join(log, dir, "outbox.log") || !join(flushing, dir, "outbox.flushing"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    fd = open(log, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(L, "cannot open", log, errno);
    if (lock_fd(fd, LOCK_EX) != 0 || (buf = slurp(L, fd, &len)) == NULL) {
        err = errno;
        close(fd);
        return fail(L, "cannot read", log, err);
    }
    if (len > 0) {
        out = open(flushing, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (out < 0 || write_all(out, buf, len) != 0 || fsync(out) != 0)
            err = errno;
        if (out >= 0)
            close(out);
        if (err == 0 && (sync_dir(dir) != 0 || ftruncate(fd, 0) != 0 || fsync(fd) != 0))
            err = errno;
    }
    close(fd);
    if (err != 0)
        return fail(L, "cannot move records to", flushing, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.outbox_replace(dir, { payload, ... }) -> true | nil, message
 * Leaves outbox.flushing holding exactly these records (none: the file is removed). */
static int outbox_replace(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char flushing[MAX_PATH], tmp[MAX_PATH];
    int fd, err = 0;
    size_t i;
    luaL_checktype(L, 2, LUA_TTABLE);
    for (i = 1; i <= lua_rawlen(L, 2); i++) { /* before any file is open: this may raise */
        lua_rawgeti(L, 2, (lua_Integer)i);
        luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2, "records must be strings");
        lua_pop(L, 1);
    }
    if (!join(flushing, dir, "outbox.flushing") || !join(tmp, dir, "outbox.flushing.tmp"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    if (lua_rawlen(L, 2) == 0) {
        if (unlink(flushing) != 0 && errno != ENOENT)
            return fail(L, "cannot remove", flushing, errno);
    } else {
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return fail(L, "cannot open", tmp, errno);
        err = append_records(L, fd, 2);
        close(fd);
        if (err == 0 && rename(tmp, flushing) != 0)
            err = errno;
        if (err != 0) {
            unlink(tmp);
            return fail(L, "cannot write", flushing, err);
        }
    }
    if (sync_dir(dir) != 0)
        return fail(L, "cannot sync", dir, errno);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.outbox_lock(dir) -> lock | nil, "busy" | nil, message. One flush at a time,
 * across processes; the lock is released by lock:close() or garbage collection. */
static int outbox_lock(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char path[MAX_PATH];
    int *ud, fd;
    if (!join(path, dir, "flush.lock"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    ud = lua_newuserdata(L, sizeof *ud);
    *ud = -1;
    luaL_setmetatable(L, LCM_LOCK_MT);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(L, "cannot open", path, errno);
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK) {
            lua_pushnil(L);
            lua_pushliteral(L, "busy");
            return 2;
        }
        return fail(L, "cannot lock", path, err);
    }
    *ud = fd;
    return 1;
}

static int lock_close(lua_State *L)
{
    int *ud = luaL_checkudata(L, 1, LCM_LOCK_MT);
    if (*ud >= 0) {
        close(*ud); /* releases the flock */
        *ud = -1;
    }
    return 0;
}

/* core.outbox_check(dir) -> true | nil, message: a directory we can write in. */
static int outbox_check(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    struct stat st;
    if (stat(dir, &st) != 0)
        return fail(L, "cannot use", dir, errno);
    if (!S_ISDIR(st.st_mode))
        return fail(L, "cannot use", dir, ENOTDIR);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(L, "cannot write in", dir, errno);
    lua_pushboolean(L, 1);
    return 1;
}

void lcm_outbox_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"outbox_append", outbox_append}, {"outbox_read", outbox_read},   {"outbox_take", outbox_take},
        {"outbox_replace", outbox_replace}, {"outbox_lock", outbox_lock}, {"outbox_check", outbox_check},
        {NULL, NULL},
    };
    static const luaL_Reg lock_methods[] = {{"close", lock_close}, {NULL, NULL}};
    lcm_newclass(L, LCM_LOCK_MT, lock_methods, lock_close);
    luaL_setfuncs(L, fns, 0);
}
