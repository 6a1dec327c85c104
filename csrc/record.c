/* Outbox records, framed and read back: pure functions on memory, no file and no Lua, so
 * the reader can be fuzzed on its own (fuzz/record_fuzz.c). A record is
 *     "LCM1 <payload length> <crc32 of payload, 8 hex digits>\n" <payload> "\n"
 * so a torn record (a writer killed mid-append) or a damaged one is detected, never
 * replayed as garbage, and a reader resynchronises on "\nLCM1 " after a damaged stretch. */
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "record.h"

#define MAGIC "LCM1 "
#define MAGIC_LEN 5
#define MAX_DIGITS 10 /* payload length: below 10^10 */

/* Writes the record of payload s[0..n) at out (room for n + LCM_RECORD_MAX_HEADER + 1 bytes);
 * returns its length. The outbox frames records into malloc'd memory before it opens a
 * file, so that the file operations that follow need no Lua call. */
size_t lcm_record_frame(char *out, const char *s, size_t n)
{
    uLong crc = crc32_z(0L, (const Bytef *)s, n);
    size_t off = (size_t)snprintf(out, LCM_RECORD_MAX_HEADER + 1, MAGIC "%lu %08lx\n", (unsigned long)n,
                                  (unsigned long)crc);
    memcpy(out + off, s, n);
    out[off + n] = '\n';
    return off + n + 1;
}

/* The offset of the next line starting a record after `from`, or len. */
size_t lcm_record_next(const char *buf, size_t len, size_t from)
{
    const char *p = buf + from;
    while (p < buf + len && (p = memchr(p, '\n', (size_t)(buf + len - p))) != NULL) {
        if ((size_t)(buf + len - (p + 1)) >= MAGIC_LEN && memcmp(p + 1, MAGIC, MAGIC_LEN) == 0)
            return (size_t)(p + 1 - buf);
        p++;
    }
    return len;
}

/* Reads "<digits> <8 hex>\n" at p (avail bytes). 1 when well-formed (sets n, crc and the
 * header's end); 0 when malformed; -1 when the bytes run out before it could be told. */
static int parse_header(const char *p, size_t avail, unsigned long *n, unsigned long *crc, size_t *used)
{
    size_t i = 0, digits = 0, hex = 0;
    *n = 0;
    *crc = 0;
    for (; i < avail && p[i] >= '0' && p[i] <= '9' && digits < MAX_DIGITS; i++, digits++)
        *n = *n * 10 + (unsigned long)(p[i] - '0');
    if (i == avail)
        return -1;
    if (digits == 0 || p[i++] != ' ')
        return 0;
    for (; i < avail && hex < 8; i++, hex++) {
        char c = p[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return 0;
        *crc = *crc * 16 + (unsigned long)v;
    }
    if (i == avail)
        return -1;
    if (p[i++] != '\n')
        return 0;
    *used = i;
    return 1;
}

/* Parses the record at pos: 1 and its payload when whole and intact; 0 when damaged;
 * -1 when it runs past the end of the file (torn, if no record follows it). */
int lcm_record_parse(const char *buf, size_t len, size_t pos, const char **payload, size_t *plen, size_t *next)
{
    size_t avail = len - pos, used = 0;
    unsigned long n, crc;
    int r;
    if (memcmp(buf + pos, MAGIC, avail < MAGIC_LEN ? avail : MAGIC_LEN) != 0)
        return 0;
    if (avail <= MAGIC_LEN)
        return -1;
    r = parse_header(buf + pos + MAGIC_LEN, avail - MAGIC_LEN, &n, &crc, &used);
    if (r != 1)
        return r;
    used += MAGIC_LEN;
    if (n + 1 > avail - used)
        return -1;
    *payload = buf + pos + used;
    *plen = n;
    *next = pos + used + n + 1;
    return (*payload)[n] == '\n' && crc32_z(0L, (const Bytef *)*payload, n) == crc;
}

size_t lcm_record_resume(const char *buf, size_t len, size_t pos, size_t claimed)
{
    const char *payload;
    size_t plen, next = len, line = lcm_record_next(buf, len, pos);
    if (claimed > pos && claimed < line && lcm_record_parse(buf, len, claimed, &payload, &plen, &next) == 1)
        return claimed;
    return line;
}
