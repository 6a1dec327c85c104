/* libFuzzer target for the outbox's record reader (csrc/record.c), which reads files a
 * crash, a full disk or an editor may have left in any state: it must never read past the
 * buffer, must always move forward, and must give back exactly what was framed.
 *   1. The input as a file: scanned as core.outbox_read scans, every payload inside it.
 *   2. The input as a payload: framed, then framed records around a copy of it damaged at
 *      one byte (chosen by the input): both intact records are read back.
 * Built and run by `make fuzz`. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Scans buf as outbox_read (csrc/outbox.c) does; returns the number of intact records. */
static size_t scan(const char *buf, size_t len, const char **first, size_t *first_len)
{
    size_t pos = 0, n = 0;
    while (pos < len) {
        const char *payload = NULL;
        size_t plen = 0, next = len;
        int r = lcm_record_parse(buf, len, pos, &payload, &plen, &next);
        if (r == 1) {
            if (payload < buf || payload + plen > buf + len || next <= pos || next > len)
                abort();
            if (n++ == 0 && first != NULL) {
                *first = payload;
                *first_len = plen;
            }
            pos = next;
            continue;
        }
        next = lcm_record_resume(buf, len, pos, next);
        if (next <= pos && next != len)
            abort(); /* no progress */
        if (r == -1 && next == len)
            break;
        pos = next;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *payload = NULL;
    size_t plen = 0, one, len, i;
    char *buf, *p;
    scan((const char *)data, size, NULL, NULL);
    /* The input as a payload as lua/lcm/outbox.lua writes one: "v=3<TAB>..." with no newline
     * (it escapes them). Three records: it, a copy with one byte changed, it again. */
    buf = malloc(3 * (size + 4 + LCM_RECORD_MAX_HEADER + 1) + 1);
    p = malloc(size + 4);
    if (buf == NULL || p == NULL) {
        free(buf);
        free(p);
        return 0;
    }
    memcpy(p, "v=3\t", 4);
    for (i = 0; i < size; i++)
        p[4 + i] = data[i] == '\n' ? ' ' : (char)data[i];
    one = lcm_record_frame(buf, p, size + 4);
    len = one + lcm_record_frame(buf + one, p, size + 4);
    if (size > 0)
        buf[one + (data[0] % (len - one))] ^= (char)(1 + data[size - 1] % 255); /* damage the middle one */
    len += lcm_record_frame(buf + len, p, size + 4);
    if (scan(buf, one, &payload, &plen) != 1 || plen != size + 4 || memcmp(payload, p, size + 4) != 0)
        abort(); /* a framed record reads back as itself */
    if (scan(buf, len, NULL, NULL) < 2)
        abort(); /* the damaged middle one never swallows its neighbours */
    free(p);
    free(buf);
    return 0;
}
