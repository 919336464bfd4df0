#ifndef STREAMBUS_CASSANDRA_COMMITLOG_H
#define STREAMBUS_CASSANDRA_COMMITLOG_H

/* Reader for Apache Cassandra commit-log segments (CommitLog-<version>-<id>.log), the files a
 * node hard-links into cdc_raw/ for CDC-enabled tables. docs/cassandra-commitlog.md describes
 * the format and the Cassandra classes it comes from.
 *
 * The reader works on bytes the caller has read from the file, up to the synced offset that
 * Cassandra writes in <segment>_cdc.idx, and delivers each serialized Mutation with its
 * position. It never reads past a sync section that is not complete in those bytes, so a
 * segment still being written is read in several calls: the state says where to resume.
 * Supported: descriptor versions 6 (Cassandra 3.0-3.11), 7 (4.0/4.1) and 8 (5.0); plain,
 * compressed (LZ4, Snappy, Deflate, Zstd) and encrypted (AES/CBC, LZ4 inside) segments. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum {
    CL_VERSION_30 = 6,
    CL_VERSION_40 = 7,
    CL_VERSION_50 = 8,
};

typedef enum cl_compression {
    CL_COMPRESSION_NONE = 0,
    CL_COMPRESSION_LZ4,
    CL_COMPRESSION_SNAPPY,
    CL_COMPRESSION_DEFLATE,
    CL_COMPRESSION_ZSTD,
} cl_compression_t;

/* CommitLogDescriptor: what the segment header says. */
typedef struct cl_descriptor {
    int32_t version;        /* 6, 7 or 8 */
    int64_t id;             /* segment id (also in the file name) */
    int messaging_version;  /* MessagingService version of the mutations: 10, 12 or 13 */
    cl_compression_t compression;
    bool encrypted;
    char cipher[64];        /* "AES/CBC/PKCS5Padding" when encrypted */
    char key_alias[128];
    uint8_t iv[16];
    size_t header_len;      /* bytes before the first sync marker */
} cl_descriptor_t;

/* Parses the header at the start of a segment. SB_EAGAIN when `len` does not yet hold the whole
 * header; SB_ECORRUPT on a CRC mismatch; SB_EINVAL for versions or parameters not supported. */
int cl_descriptor_parse(const uint8_t *p, size_t len, cl_descriptor_t *d, sb_err_t *err);

/* Finds the AES key for an alias of an encrypted segment (Cassandra reads it from a JCEKS
 * keystore; we take the raw key from configuration). Fills key (16, 24 or 32 bytes) and *key_len;
 * returns 0, or a negative code when the alias is unknown. */
typedef int (*cl_key_lookup_fn)(void *ud, const char *alias, uint8_t key[32], size_t *key_len);

/* One commit-log entry. `data` is valid only during the callback. */
typedef struct cl_entry {
    const uint8_t *data;      /* the serialized Mutation */
    size_t len;
    uint64_t section_offset;  /* file offset of the sync marker of this entry's section */
    uint64_t position;        /* Cassandra's CommitLogPosition.position: logical offset just
                               * after the entry (a file offset for plain segments) */
} cl_entry_t;

/* Returns 0 to go on, anything else to stop reading (cl_read_state.stop == CL_STOP_CALLBACK). */
typedef int (*cl_entry_fn)(void *ud, const cl_entry_t *e);

typedef enum cl_stop {
    CL_STOP_NONE = 0,
    CL_STOP_END,       /* a zero sync marker or end of file: nothing written past here (yet) */
    CL_STOP_NEED_MORE, /* the next section is not complete in the bytes given: call again later */
    CL_STOP_TORN,      /* a bad sync marker or entry header: a torn or corrupt tail; all entries
                        * before it were delivered and the state stays on that section */
    CL_STOP_CALLBACK,  /* the callback asked to stop */
} cl_stop_t;

/* Where to resume. Zero-initialise for a new segment. A checkpoint is this struct's first
 * three fields; entries at or before `delivered` are not delivered again. */
typedef struct cl_read_state {
    uint64_t next_section;  /* file offset of the next sync marker (0: parse the header first) */
    uint64_t next_logical;  /* logical position of that marker */
    uint64_t delivered;     /* position of the last entry delivered */
    cl_stop_t stop;         /* why the last call stopped */
    uint64_t entries;       /* entries delivered (cumulative) */
    uint64_t bad_entries;   /* entries skipped for a bad mutation CRC, as Cassandra does */
    uint64_t sections;      /* sync sections fully read */
    char detail[160];       /* what stopped the read, for CL_STOP_TORN */
} cl_read_state_t;

typedef struct cl_reader cl_reader_t;

/* `keys` may be NULL when no segment is encrypted. */
int cl_reader_new(cl_reader_t **out, cl_key_lookup_fn keys, void *keys_ud);
void cl_reader_free(cl_reader_t *r);

/* Largest plain text of one sync section that the reader will allocate (default 256 MiB,
 * above Cassandra's largest usual segment size; a claimed length above it is treated as a
 * torn section rather than allocated). */
void cl_reader_set_max_section(cl_reader_t *r, size_t max_section);

/* The descriptor of the segment last read (valid after a successful cl_reader_read). */
const cl_descriptor_t *cl_reader_descriptor(const cl_reader_t *r);

/* Reads the sync sections of one segment from buf[0..len) (the file's bytes from offset 0 up to
 * the synced offset or the file end), from `st` onwards, calling `fn` for each entry. Returns 0
 * with st->stop saying why it stopped (END, NEED_MORE, TORN or CALLBACK); a negative code only
 * when the segment cannot be read at all (bad header, unsupported compression, missing key,
 * out of memory). A decompression or decryption failure of a complete section is CL_STOP_TORN. */
int cl_reader_read(cl_reader_t *r, const uint8_t *buf, size_t len, cl_read_state_t *st,
                   cl_entry_fn fn, void *ud, sb_err_t *err);

/* Parses a <segment>_cdc.idx file's text: line 1 the synced offset, line 2 "COMPLETED" once
 * Cassandra is done with the segment. SB_EINVAL when line 1 is not a number. */
int cl_cdc_index_parse(const char *text, size_t len, uint64_t *offset, bool *completed);

#endif
