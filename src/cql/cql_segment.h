#ifndef STREAMBUS_CQL_CQL_SEGMENT_H
#define STREAMBUS_CQL_CQL_SEGMENT_H

/* Protocol v5 framing (native_protocol_v5.spec section 2): after the STARTUP exchange, every
 * message (an "envelope": the v4-style 9-byte header and body) travels inside segments:
 *
 *   header   3 bytes little-endian: payload length (17 bits) | self-contained flag (bit 17)
 *   CRC24    3 bytes little-endian, of the header (init 0x875060, polynomial 0x1974F0B)
 *   payload  up to 2^17 - 1 bytes: whole envelopes (self-contained) or a part of one large one
 *   CRC32    4 bytes little-endian, of the payload, seeded by the bytes FA 2D 55 CA
 *
 * Only the uncompressed format is implemented (the client never asks for compression). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define CQL_SEGMENT_HEADER_LEN 6
#define CQL_SEGMENT_TRAILER_LEN 4
#define CQL_SEGMENT_MAX_PAYLOAD 131071

/* CRC24 of the low `nbytes` bytes of data, taken least significant first (as the header's
 * little-endian bytes). */
uint32_t cql_crc24(uint64_t data, int nbytes);
uint32_t cql_segment_crc32(const uint8_t *p, size_t n);

/* Checks the header CRC and returns the payload length and the self-contained flag. */
int cql_segment_header_decode(const uint8_t hdr[CQL_SEGMENT_HEADER_LEN], size_t *payload_len,
                              bool *self_contained, sb_err_t *err);
/* Checks the payload against its trailer. */
int cql_segment_payload_check(const uint8_t *payload, size_t len, const uint8_t trailer[CQL_SEGMENT_TRAILER_LEN],
                              sb_err_t *err);
/* Appends one envelope as segments: a single self-contained segment when it fits, otherwise
 * a run of segments that are not self-contained. */
void cql_segment_wrap(sb_wr_t *out, const uint8_t *envelope, size_t len);

#endif
