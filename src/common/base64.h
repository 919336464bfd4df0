#ifndef STREAMBUS_COMMON_BASE64_H
#define STREAMBUS_COMMON_BASE64_H

/* Base64 in its two RFC 4648 forms: standard (§4, with '=' padding), as SCRAM (RFC 5802) and
 * Kafka's SCRAM admin APIs' text forms use it, and base64url (§5, no padding), as JWTs (RFC 7515
 * §2) use it. The decoders are strict: they refuse characters outside the alphabet, wrong padding
 * or length and non-zero trailing bits, so that one value has exactly one encoding. */

#include <stddef.h>
#include <stdint.h>

/* Bytes needed to encode n bytes, including the terminating NUL. */
#define SB_BASE64_ENCODED_CAP(n) ((((n) + 2) / 3) * 4 + 1)

/* Writes the encoding of in[0..n) and a NUL into out (cap >= SB_BASE64_ENCODED_CAP(n));
 * returns the encoded length, or SB_ERANGE when out is too small. */
int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap);

/* Decodes in[0..n) into out; returns the decoded length, SB_EINVAL for malformed input and
 * SB_ERANGE when out is too small. */
int sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap);

/* The same for base64url without padding; SB_BASE64_ENCODED_CAP(n) is enough for the encoding. */
int sb_base64url_encode(const uint8_t *in, size_t n, char *out, size_t cap);
int sb_base64url_decode(const char *in, size_t n, uint8_t *out, size_t cap);

#endif
