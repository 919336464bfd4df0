#ifndef STREAMBUS_COMMON_BUF_H
#define STREAMBUS_COMMON_BUF_H

/* Bounded reader and growable writer for big-endian wire formats (Kafka, CQL, pgoutput).
 *
 * Every byte from outside is parsed through sb_rd_t (house rule 3). The reader has a sticky
 * error flag: a read past the end, a negative length or an absurd count sets rd->err and
 * every later read returns zero/empty, so a decoder can read a whole structure and check
 * sb_rd_ok() once at the end instead of after every field.
 *
 * The writer grows a heap buffer. For zero-copy responses it can also record "file splices":
 * byte ranges of files that the sender will emit with sendfile(2) at that position in the
 * stream, so payload bytes never enter user space. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A borrowed byte string; len == -1 means null (Kafka nullable string/bytes). */
typedef struct sb_slice {
    const uint8_t *p;
    int32_t len;
} sb_slice_t;

typedef struct sb_rd {
    const uint8_t *p;
    const uint8_t *end;
    bool err;
} sb_rd_t;

static inline void sb_rd_init(sb_rd_t *rd, const void *p, size_t len)
{
    rd->p = p;
    rd->end = (const uint8_t *)p + len;
    rd->err = false;
}
static inline size_t sb_rd_remaining(const sb_rd_t *rd)
{
    return rd->err ? 0 : (size_t)(rd->end - rd->p);
}
static inline bool sb_rd_ok(const sb_rd_t *rd)
{
    return !rd->err;
}
static inline void sb_rd_fail(sb_rd_t *rd)
{
    rd->err = true;
    rd->p = rd->end;
}

/* Returns a pointer to the next n bytes and advances, or NULL (and sets err) if fewer remain. */
const uint8_t *sb_rd_bytes(sb_rd_t *rd, size_t n);
int8_t sb_rd_i8(sb_rd_t *rd);
int16_t sb_rd_i16(sb_rd_t *rd);
int32_t sb_rd_i32(sb_rd_t *rd);
int64_t sb_rd_i64(sb_rd_t *rd);
uint32_t sb_rd_u32(sb_rd_t *rd);
bool sb_rd_bool(sb_rd_t *rd);
uint64_t sb_rd_uvarint(sb_rd_t *rd); /* unsigned LEB128, at most 10 bytes */
int64_t sb_rd_varint(sb_rd_t *rd);   /* zig-zag signed varint (varlong) */
void sb_rd_uuid(sb_rd_t *rd, uint8_t out[16]);

/* Kafka strings and bytes. The "nullable" forms may return len == -1. The compact forms
 * (flexible versions) carry length+1 as an unsigned varint. */
sb_slice_t sb_rd_string(sb_rd_t *rd);         /* INT16 length */
sb_slice_t sb_rd_compact_string(sb_rd_t *rd); /* UVARINT length+1 */
sb_slice_t sb_rd_kbytes(sb_rd_t *rd);         /* INT32 length */
sb_slice_t sb_rd_compact_bytes(sb_rd_t *rd);  /* UVARINT length+1 */
/* String/bytes in either encoding, chosen by `compact`. */
sb_slice_t sb_rd_str(sb_rd_t *rd, bool compact);
sb_slice_t sb_rd_byts(sb_rd_t *rd, bool compact);

/* Array element count: INT32 (or UVARINT count+1 when compact). -1 means null array.
 * A count larger than the remaining bytes / min_elem_size sets err (guards huge allocations). */
int32_t sb_rd_array(sb_rd_t *rd, bool compact, size_t min_elem_size);
/* Skips a tagged-field section (flexible versions). */
void sb_rd_tags(sb_rd_t *rd);

/* ----- writer ----- */

typedef struct sb_splice {
    size_t at; /* position in the memory stream before which the file bytes go */
    int fd;    /* owned by the writer: closed by sb_wr_deinit */
    off_t off;
    size_t len;
} sb_splice_t;

typedef struct sb_wr {
    uint8_t *buf;
    size_t len;
    size_t cap;
    bool oom;
    sb_splice_t *splices;
    size_t nsplices;
    size_t splice_cap;
    size_t splice_bytes; /* sum of splice lengths */
} sb_wr_t;

void sb_wr_init(sb_wr_t *w, size_t initial_cap);
void sb_wr_deinit(sb_wr_t *w); /* frees the buffer and closes splice fds */
void sb_wr_reset(sb_wr_t *w);  /* keeps the allocation */
/* Reserves n bytes at the end and returns a pointer to them (NULL on OOM). */
uint8_t *sb_wr_reserve(sb_wr_t *w, size_t n);
void sb_wr_bytes(sb_wr_t *w, const void *p, size_t n);
void sb_wr_i8(sb_wr_t *w, int8_t v);
void sb_wr_i16(sb_wr_t *w, int16_t v);
void sb_wr_i32(sb_wr_t *w, int32_t v);
void sb_wr_i64(sb_wr_t *w, int64_t v);
void sb_wr_u32(sb_wr_t *w, uint32_t v);
void sb_wr_bool(sb_wr_t *w, bool v);
void sb_wr_uvarint(sb_wr_t *w, uint64_t v);
void sb_wr_varint(sb_wr_t *w, int64_t v);
void sb_wr_uuid(sb_wr_t *w, const uint8_t v[16]);
/* Total stream length: memory bytes plus spliced file bytes. */
static inline size_t sb_wr_total(const sb_wr_t *w)
{
    return w->len + w->splice_bytes;
}
/* Overwrites a big-endian i32 at memory position `at` (for length prefixes). */
void sb_wr_patch_i32(sb_wr_t *w, size_t at, int32_t v);

/* Kafka strings: NULL/-1 writes a null. `compact` picks the flexible encoding. */
void sb_wr_str(sb_wr_t *w, bool compact, const char *s);            /* NUL-terminated or NULL */
void sb_wr_strn(sb_wr_t *w, bool compact, const void *s, int32_t n); /* n == -1: null */
void sb_wr_byts(sb_wr_t *w, bool compact, const void *p, int32_t n); /* n == -1: null */
void sb_wr_array(sb_wr_t *w, bool compact, int32_t n);               /* -1: null array */
void sb_wr_tags(sb_wr_t *w, bool compact);                           /* empty tag section if compact */

/* Cuts the stream back to memory length `len`, closing splices recorded at or after it. */
void sb_wr_truncate(sb_wr_t *w, size_t len);

/* Appends `len` bytes of file `fd` from `off` to the stream; takes ownership of fd. */
void sb_wr_splice(sb_wr_t *w, int fd, off_t off, size_t len);

#endif
