/* The outbox's durable file operations. Plain Lua has neither fsync nor file locks.
 *
 * A directory holds outbox.log (appended by a Set that may still have to reach LCM),
 * outbox.flushing (the batch a flush is replaying), dead.log (records that failed for
 * good), damaged.log (damaged bytes a flush kept aside) and flush.lock (one flush at a
 * time). How a record is framed and read back is csrc/record.c's (pure, and fuzzed); what
 * the payload holds is lua/lcm/outbox.lua's business.
 *
 * Nothing a caller was told is queued may be lost:
 * - appends take an exclusive flock on the file (waiting at most LOCK_WAIT_MS) and fsync
 *   it before returning;
 * - a record always starts on a line of its own: when the file does not end in "\n" (a
 *   writer was killed mid-append) the append writes one first, so the reader, which
 *   resynchronises on "\nLCM1 " after a damaged stretch, finds the record after a torn one;
 * - a failed write (ENOSPC) is cut back to the size the file had before it, in outbox.log
 *   and in outbox.flushing alike;
 * - no Lua function that can raise (allocate) runs between open/flock and close: scratch
 *   memory is malloc'd before the open, or kept in a box that the GC frees; flush.lock is
 *   held only around a protected call made from C (outbox_locked). */
#define _GNU_SOURCE /* strerrorname_np, strerrordesc_np */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lcm.h"
#include "module.h"
#include "record.h"

#define LCM_BOX_MT "lcm.outbox_buffer"
#define MAX_HEADER LCM_RECORD_MAX_HEADER
#define MAX_PATH 4096
#define COPY_CHUNK (64 * 1024)
/* How long an append or a take waits for another process's lock on outbox.log before it
 * gives up (README, "Never lost: the outbox"). Holders only write and fsync, so a longer
 * wait means a stuck process, and a dialer's call must not wait for it. */
#define LOCK_WAIT_MS 2000
#define LOCK_STEP_MS 10

static int join(char *out, const char *dir, const char *name)
{
    int n = snprintf(out, MAX_PATH, "%s/%s", dir, name);
    return n > 0 && n < MAX_PATH;
}

/* An exclusive flock, waited for at most LOCK_WAIT_MS; -1 with errno (ETIMEDOUT) else. */
static int lock_wait(int fd)
{
    struct timespec step = {0, LOCK_STEP_MS * 1000000L};
    int waited = 0;
    for (;;) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK)
            return -1;
        if (waited >= LOCK_WAIT_MS) {
            errno = ETIMEDOUT;
            return -1;
        }
        nanosleep(&step, NULL);
        waited += LOCK_STEP_MS;
    }
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

/* Reads exactly n bytes at off; -1 with errno (EIO when the file is shorter). */
static int pread_all(int fd, char *p, size_t n, off_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += r;
    }
    return 0;
}

/* Opens (creating, mode 0600) a file of the outbox dir. A root process (a flush run by hand
 * or a root cron) gives a file it creates to the directory's owner: a file left owned by
 * root would make every later queue of the host's user fail with EACCES. */
static int open_owned(const char *dir, const char *path, int flags)
{
    struct stat st;
    int fd = open(path, flags | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && geteuid() == 0 && stat(dir, &st) == 0 && st.st_uid != 0)
        (void)fchown(fd, st.st_uid, st.st_gid); /* best effort: lcm outbox status shows a failure */
    return fd;
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

/* 1 when the file of fd (of this size) ends in a torn record: its last byte is not "\n". */
static int ends_torn(int fd, off_t size, int *torn)
{
    char last = '\n';
    if (size > 0 && pread_all(fd, &last, 1, size - 1) != 0)
        return -1;
    *torn = last != '\n';
    return 0;
}

/* Writes n bytes at the end of fd (opened O_APPEND, locked, of this size), after a "\n"
 * when a torn record ends it, and fsyncs; on failure cuts the file back to `size`. */
static int append_at_end(int fd, off_t size, const char *p, size_t n)
{
    int torn = 0, err;
    if (ends_torn(fd, size, &torn) != 0)
        return errno;
    if ((torn && write_all(fd, "\n", 1) != 0) || write_all(fd, p, n) != 0 || fsync(fd) != 0) {
        err = errno;
        if (ftruncate(fd, size) == 0)
            (void)fsync(fd);
        return err;
    }
    return 0;
}

/* Returns nil, "<ENAME>: <strerror> (<what> <path>)", "<ENAME>": what Lua makes an error of
 * kind outbox with the errno's name as its code. */
static int fail(lua_State *L, const char *what, const char *path, int err)
{
    /* glibc's constant tables: thread-safe and the same in every locale, unlike strerror */
    const char *name = strerrorname_np(err), *desc = strerrordesc_np(err);
    char num[24];
    if (name == NULL) {
        snprintf(num, sizeof num, "E%d", err);
        name = num;
    }
    lua_pushnil(L);
    if (err == ETIMEDOUT)
        lua_pushfstring(L, "%s: outbox locked by another process for more than %d ms (%s %s)", name,
                        LOCK_WAIT_MS, what, path);
    else
        lua_pushfstring(L, "%s: %s (%s %s)", name, desc != NULL ? desc : "unknown error", what, path);
    lua_pushstring(L, name);
    return 3;
}

/* core.outbox_append(dir, file, payload) -> true | nil, message, errno name */
static int outbox_append(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1), *name = luaL_checkstring(L, 2);
    char path[MAX_PATH];
    struct stat st;
    size_t len = 0;
    char *buf;
    int fd, err = 0, created = 0;
    luaL_checktype(L, 3, LUA_TSTRING);
    luaL_argcheck(L, lua_rawlen(L, 3) < 1000000000u, 3, "payload too long");
    if (!join(path, dir, name))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    if ((buf = malloc(lua_rawlen(L, 3) + MAX_HEADER + 1)) == NULL)
        return fail(L, "cannot frame a record for", path, ENOMEM);
    len = lcm_record_frame(buf, lua_tostring(L, 3), lua_rawlen(L, 3));
    fd = open_owned(dir, path, O_RDWR | O_APPEND);
    if (fd < 0) {
        err = errno;
        free(buf);
        return fail(L, "cannot open", path, err);
    }
    if (lock_wait(fd) != 0 || fstat(fd, &st) != 0)
        err = errno;
    else if ((err = append_at_end(fd, st.st_size, buf, len)) == 0)
        created = st.st_size == 0;
    /* A new file's directory entry made durable too, still under the lock: when that fails
     * the record is cut back, so "not queued" is true and a caller who sends the outcome
     * again (under a new key) does not queue it twice. */
    if (created && sync_dir(dir) != 0) {
        err = errno;
        if (ftruncate(fd, st.st_size) == 0)
            (void)fsync(fd);
    }
    close(fd); /* releases the lock */
    free(buf);
    if (err != 0)
        return fail(L, "cannot append to", path, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* A malloc'd buffer owned by a userdata: freed by the GC even when a push raises. */
typedef struct {
    char *data;
} box_t;

static int box_free(lua_State *L)
{
    box_t *b = luaL_checkudata(L, 1, LCM_BOX_MT);
    free(b->data);
    b->data = NULL;
    return 0;
}

/* Reads the whole file of fd into a malloc'd buffer; 0, or an errno. */
static int slurp(int fd, char **out, size_t *len)
{
    struct stat st;
    char *buf;
    if (fstat(fd, &st) != 0)
        return errno;
    if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
        return ENOMEM;
    if (pread_all(fd, buf, (size_t)st.st_size, 0) != 0) {
        int err = errno;
        free(buf);
        return err;
    }
    *out = buf;
    *len = (size_t)st.st_size;
    return 0;
}

/* core.outbox_read(path) -> { payload, ... }, damaged_count, torn, { damaged bytes, ... }
 *   | nil, message, errno name
 * A missing file is an empty outbox. A damaged record is counted and skipped up to the
 * next record header; its bytes are returned too, so that a flush keeps them aside
 * (damaged.log) instead of dropping what may still be read of an outcome. A record cut
 * short by the end of the file, with none after it, is torn: a writer was killed while
 * appending it, and its caller never saw queued = true. */
static int outbox_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    box_t *box = lua_newuserdata(L, sizeof *box); /* before the open: this may raise */
    size_t len = 0, pos = 0;
    int fd, err, n = 0, corrupt = 0, torn = 0;
    box->data = NULL;
    luaL_setmetatable(L, LCM_BOX_MT);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return fail(L, "cannot open", path, errno);
        lua_newtable(L);
        lua_pushinteger(L, 0);
        lua_pushboolean(L, 0);
        lua_newtable(L);
        return 4;
    }
    err = slurp(fd, &box->data, &len);
    close(fd);
    if (err != 0)
        return fail(L, "cannot read", path, err);
    lua_newtable(L); /* the damaged bytes, below the records */
    lua_newtable(L);
    while (pos < len) {
        const char *payload = NULL;
        size_t plen = 0, next = len;
        int r = lcm_record_parse(box->data, len, pos, &payload, &plen, &next);
        if (r == 1) {
            lua_pushlstring(L, payload, plen);
            lua_rawseti(L, -2, ++n);
            pos = next;
            continue;
        }
        next = lcm_record_resume(box->data, len, pos, next);
        if (r == -1 && next == len) {
            torn = 1;
            break;
        }
        corrupt++;
        lua_pushlstring(L, box->data + pos, next - pos); /* the box frees data if this raises */
        lua_rawseti(L, -3, corrupt);
        pos = next;
    }
    free(box->data);
    box->data = NULL;
    lua_pushinteger(L, corrupt);
    lua_pushboolean(L, torn);
    lua_pushvalue(L, -4);
    return 4;
}

/* Copies len bytes of `from` to the end of `to` (locked by the caller through outbox.log),
 * after a "\n" when `to` ends in a torn record, and fsyncs; on failure `to` is cut back
 * to the size it had. 0 or an errno. */
static int copy_to_end(int from, off_t len, int to, char *chunk)
{
    struct stat st;
    off_t off = 0;
    int torn = 0, err = 0;
    if (fstat(to, &st) != 0 || ends_torn(to, st.st_size, &torn) != 0)
        return errno;
    if (torn && write_all(to, "\n", 1) != 0)
        err = errno;
    while (err == 0 && off < len) {
        size_t n = len - off < COPY_CHUNK ? (size_t)(len - off) : COPY_CHUNK;
        if (pread_all(from, chunk, n, off) != 0 || write_all(to, chunk, n) != 0)
            err = errno;
        off += (off_t)n;
    }
    if (err == 0 && fsync(to) != 0)
        err = errno;
    if (err != 0 && ftruncate(to, st.st_size) == 0)
        (void)fsync(to);
    return err;
}

/* core.outbox_take(dir) -> true | nil, message, errno name
 * Moves what outbox.log holds to the end of outbox.flushing. Copy then truncate, under
 * the appenders' lock, never rename: an appender blocked on the lock of a renamed file
 * would write its record into the batch a flush has already read. A failed copy leaves
 * both files as they were. A crash between the copy and the truncate replays records,
 * which their Idempotency-Key makes harmless. */
static int outbox_take(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char log[MAX_PATH], flushing[MAX_PATH];
    const char *where = log;
    struct stat st;
    int fd, out, err = 0;
    char *chunk;
    if (!join(log, dir, "outbox.log") || !join(flushing, dir, "outbox.flushing"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    if ((chunk = malloc(COPY_CHUNK)) == NULL)
        return fail(L, "cannot take", log, ENOMEM);
    fd = open_owned(dir, log, O_RDWR);
    if (fd < 0) {
        err = errno;
        free(chunk);
        return fail(L, "cannot open", log, err);
    }
    if (lock_wait(fd) != 0 || fstat(fd, &st) != 0) {
        err = errno;
    } else if (st.st_size > 0) {
        where = flushing;
        out = open_owned(dir, flushing, O_RDWR | O_APPEND);
        if (out < 0) {
            err = errno;
        } else {
            struct stat was;
            int fresh = fstat(out, &was) == 0 && was.st_size == 0;
            err = copy_to_end(fd, st.st_size, out, chunk);
            close(out);
            if (err != 0 && fresh)
                unlink(flushing); /* as it was: absent */
        }
        if (err == 0 && (sync_dir(dir) != 0 || ftruncate(fd, 0) != 0 || fsync(fd) != 0)) {
            err = errno;
            where = log;
        }
    }
    close(fd); /* releases the lock */
    free(chunk);
    if (err != 0)
        return fail(L, "cannot move outbox.log's records into outbox.flushing:", where, err);
    lua_pushboolean(L, 1);
    return 1;
}

/* core.outbox_replace(dir, { payload, ... }) -> true | nil, message, errno name
 * Leaves outbox.flushing holding exactly these records (none: the file is removed),
 * through a temporary file and a rename: a failure leaves the old batch whole. */
static int outbox_replace(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char flushing[MAX_PATH], tmp[MAX_PATH];
    int fd, i, n, err = 0;
    size_t len = 0;
    char *buf;
    luaL_checktype(L, 2, LUA_TTABLE);
    if (!join(flushing, dir, "outbox.flushing") || !join(tmp, dir, "outbox.flushing.tmp"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    n = (int)lua_rawlen(L, 2);
    if (n == 0) {
        if (unlink(flushing) != 0 && errno != ENOENT)
            return fail(L, "cannot remove", flushing, errno);
        if (sync_dir(dir) != 0)
            return fail(L, "cannot sync", dir, errno);
        lua_pushboolean(L, 1);
        return 1;
    }
    for (i = 1; i <= n; i++) { /* before any file is open: this may raise */
        lua_rawgeti(L, 2, i);
        luaL_argcheck(L, lua_type(L, -1) == LUA_TSTRING, 2, "records must be strings");
        len += lua_rawlen(L, -1) + MAX_HEADER + 1;
        lua_pop(L, 1);
    }
    if ((buf = malloc(len)) == NULL)
        return fail(L, "cannot frame records for", flushing, ENOMEM);
    for (i = 1, len = 0; i <= n; i++) { /* rawgeti of a string neither allocates nor raises */
        lua_rawgeti(L, 2, i);
        len += lcm_record_frame(buf + len, lua_tostring(L, -1), lua_rawlen(L, -1));
        lua_pop(L, 1);
    }
    fd = open_owned(dir, tmp, O_WRONLY | O_TRUNC);
    if (fd < 0) {
        err = errno;
        free(buf);
        return fail(L, "cannot open", tmp, err);
    }
    if (write_all(fd, buf, len) != 0 || fsync(fd) != 0)
        err = errno;
    close(fd);
    free(buf);
    if (err == 0 && rename(tmp, flushing) != 0)
        err = errno;
    if (err == 0 && sync_dir(dir) != 0)
        err = errno;
    if (err != 0) {
        unlink(tmp);
        return fail(L, "cannot write", flushing, err);
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* core.outbox_locked(dir, fn, ...) -> true, fn(...)'s results | false, fn's error
 *                                  | nil, "busy" | nil, message, errno name
 * Runs fn(...) holding flush.lock (one flush at a time, across processes). The lock is
 * taken, fn is called in protected mode and the lock is released all here, in C: a Lua
 * error anywhere in between (out of memory while calling fn included, which a pcall
 * written in Lua cannot catch) cannot leave it held or its descriptor open. */
static int outbox_locked(lua_State *L)
{
    const char *dir = luaL_checkstring(L, 1);
    char path[MAX_PATH];
    int fd, status;
    luaL_checktype(L, 2, LUA_TFUNCTION);
    if (!join(path, dir, "flush.lock"))
        return fail(L, "path too long:", dir, ENAMETOOLONG);
    luaL_checkstack(L, 3, "outbox_locked"); /* room for what follows, before the open */
    fd = open_owned(dir, path, O_RDWR);
    if (fd < 0)
        return fail(L, "cannot open", path, errno);
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        if (err == EINTR)
            continue;
        close(fd);
        if (err == EWOULDBLOCK) {
            lua_pushnil(L);
            lua_pushliteral(L, "busy");
            return 2;
        }
        return fail(L, "cannot lock", path, err);
    }
    status = lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0);
    close(fd); /* releases the lock */
    luaL_checkstack(L, 1, "outbox_locked");
    lua_pushboolean(L, status == 0);
    lua_replace(L, 1);
    return lua_gettop(L);
}

/* core.outbox_check(dir) -> true | nil, message, errno name: a directory we can write in. */
static int outbox_check(lua_State *L)
{
    static const char *const files[] = {"outbox.log", "outbox.flushing", "dead.log", "flush.lock", NULL};
    const char *dir = luaL_checkstring(L, 1);
    char path[MAX_PATH];
    struct stat st, file;
    int i;
    if (stat(dir, &st) != 0)
        return fail(L, "cannot use", dir, errno);
    if (!S_ISDIR(st.st_mode))
        return fail(L, "cannot use", dir, ENOTDIR);
    if (access(dir, W_OK | X_OK) != 0)
        return fail(L, "cannot write in", dir, errno);
    /* The outbox's files: each must be usable by whoever queues. Root can write them all,
     * so for root the question is whether the directory's owner (the host's user) can:
     * a file another user owns is one it cannot (mode 0600). */
    for (i = 0; files[i] != NULL; i++) {
        if (!join(path, dir, files[i]))
            return fail(L, "path too long:", dir, ENAMETOOLONG);
        if (stat(path, &file) != 0)
            continue; /* made when needed */
        if (geteuid() == 0 ? file.st_uid != st.st_uid : access(path, R_OK | W_OK) != 0) {
            lua_pushnil(L);
            lua_pushfstring(L, "EACCES: %s is owned by uid %d, its directory by uid %d: chown it to the directory's owner",
                            path, (int)file.st_uid, (int)st.st_uid);
            lua_pushliteral(L, "EACCES");
            return 3;
        }
    }
    lua_pushboolean(L, 1);
    return 1;
}

void lcm_outbox_open(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"outbox_append", outbox_append}, {"outbox_read", outbox_read},   {"outbox_take", outbox_take},
        {"outbox_replace", outbox_replace}, {"outbox_locked", outbox_locked}, {"outbox_check", outbox_check},
        {NULL, NULL},
    };
    static const luaL_Reg box_methods[] = {{NULL, NULL}};
    lcm_newclass(L, LCM_BOX_MT, box_methods, box_free);
    lua_pushinteger(L, LOCK_WAIT_MS);
    lua_setfield(L, -2, "outbox_lock_wait_ms");
    luaL_setfuncs(L, fns, 0);
}
