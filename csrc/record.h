/* csrc/record.c: how an outbox record is framed and read back. */
#ifndef LCM_RECORD_H
#define LCM_RECORD_H

#include <stddef.h>

/* The longest header: "LCM1 " + 10 digits + " " + 8 hex digits + "\n". */
#define LCM_RECORD_MAX_HEADER (5 + 10 + 1 + 8 + 1)

/* Writes the record of payload s[0..n) at out, which has room for n + LCM_RECORD_MAX_HEADER
 * + 1 bytes; returns its length. */
size_t lcm_record_frame(char *out, const char *s, size_t n);

/* The offset of the next line starting a record after `from`, or len. */
size_t lcm_record_next(const char *buf, size_t len, size_t from);

/* Parses the record at pos (< len): 1 and its payload (inside buf) and the offset after it
 * when whole and intact; 0 when damaged; -1 when it runs past the end of buf (torn, if no
 * record follows it). */
int lcm_record_parse(const char *buf, size_t len, size_t pos, const char **payload, size_t *plen, size_t *next);

/* Where to read on after the damaged record at pos: the next line that starts a record,
 * unless the record's header said it ends before that and an intact record starts there (a
 * changed byte in its final newline must not take the next record with it). The earlier
 * of the two: a torn record's claimed end lies past the records appended after it. claimed:
 * the `next` lcm_record_parse set (len when its header could not be read). A payload never
 * holds a newline and starts with "v=" (lua/lcm/outbox.lua), so no record line and no intact
 * record can be read inside one, even when a damaged length points there. */
size_t lcm_record_resume(const char *buf, size_t len, size_t pos, size_t claimed);

#endif
