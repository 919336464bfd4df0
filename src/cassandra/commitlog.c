/* Commit-log segment reader. The layout (docs/cassandra-commitlog.md) comes from Cassandra's
 * CommitLogDescriptor (header), CommitLogSegmentReader (sync markers, compressed and encrypted
 * sections), CommitLogReader.readSection (entries) and EncryptionUtils (encrypted chunks). */
#include "cassandra/commitlog.h"

#include <errno.h>
#include <jansson.h>
#include <lz4.h>
#include <openssl/evp.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "common/buf.h"

#define CL_SYNC_MARKER_SIZE 8
/* Smallest entry Cassandra accepts (CommitLogReader: "Invalid mutation size"). */
#define CL_MIN_ENTRY_SIZE 10
/* Default bound of a section's plain text (cl_reader_set_max_section). */
#define CL_DEFAULT_MAX_SECTION ((size_t)256 << 20)
/* LZ4's best ratio is about 255:1, so a longer claimed plain text is corruption. */
#define LZ4_MAX_RATIO 255

struct cl_reader {
    cl_key_lookup_fn keys;
    void *keys_ud;
    cl_descriptor_t desc;
    bool have_desc;
    size_t max_section;
    uint8_t key[32];
    size_t key_len;
    EVP_CIPHER_CTX *cipher;
    uint8_t *plain; /* one decompressed/decrypted section */
    size_t plain_cap;
    uint8_t *chunk; /* one decrypted chunk (encrypted segments) */
    size_t chunk_cap;
};

static uint32_t crc_int(uint32_t crc, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return (uint32_t)crc32(crc, b, 4);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The header's parameters are a JSON object (CommitLogDescriptor.constructParametersString):
 * compressionClass / compressionParameters, and encCipher / encIV / encKeyAlias from
 * EncryptionContext.toHeaderParameters. Unknown keys are other components' headers. */
static int parse_params(const uint8_t *p, size_t n, cl_descriptor_t *d, sb_err_t *err)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p, n, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return sb_err_set(err, SB_EINVAL, "commit log header parameters are not a JSON object");
    }
    int rc = 0;
    const char *cls = json_string_value(json_object_get(root, "compressionClass"));
    if (cls) {
        if (ends_with(cls, "LZ4Compressor")) d->compression = CL_COMPRESSION_LZ4;
        else if (ends_with(cls, "SnappyCompressor")) d->compression = CL_COMPRESSION_SNAPPY;
        else if (ends_with(cls, "DeflateCompressor")) d->compression = CL_COMPRESSION_DEFLATE;
        else if (ends_with(cls, "ZstdCompressor")) d->compression = CL_COMPRESSION_ZSTD;
        else if (ends_with(cls, "NoopCompressor")) d->compression = CL_COMPRESSION_NONE;
        else rc = sb_err_set(err, SB_EINVAL, "commit log compression class %.100s is not supported", cls);
    }
    const char *cipher = json_string_value(json_object_get(root, "encCipher"));
    if (rc == 0 && cipher) {
        const char *iv = json_string_value(json_object_get(root, "encIV"));
        const char *alias = json_string_value(json_object_get(root, "encKeyAlias"));
        if (strcmp(cipher, "AES/CBC/PKCS5Padding") != 0) {
            rc = sb_err_set(err, SB_EINVAL, "commit log cipher %.60s is not supported (only AES/CBC/PKCS5Padding)",
                            cipher);
        } else if (!iv || strlen(iv) != 32 || !alias || strlen(alias) >= sizeof(d->key_alias)) {
            rc = sb_err_set(err, SB_EINVAL, "encrypted commit log header lacks a 16-byte encIV or an encKeyAlias");
        } else {
            for (int i = 0; i < 16 && rc == 0; i++) {
                int hi = hexval(iv[2 * i]), lo = hexval(iv[2 * i + 1]);
                if (hi < 0 || lo < 0) rc = sb_err_set(err, SB_EINVAL, "encIV of the commit log header is not hex");
                d->iv[i] = (uint8_t)(hi << 4 | lo);
            }
            d->encrypted = true;
            snprintf(d->cipher, sizeof(d->cipher), "%s", cipher);
            snprintf(d->key_alias, sizeof(d->key_alias), "%s", alias);
        }
    }
    json_decref(root);
    return rc;
}

int cl_descriptor_parse(const uint8_t *p, size_t len, cl_descriptor_t *d, sb_err_t *err)
{
    memset(d, 0, sizeof(*d));
    sb_rd_t rd;
    sb_rd_init(&rd, p, len);
    d->version = sb_rd_i32(&rd);
    d->id = sb_rd_i64(&rd);
    uint16_t plen = (uint16_t)sb_rd_i16(&rd);
    const uint8_t *params = sb_rd_bytes(&rd, plen);
    uint32_t claimed = sb_rd_u32(&rd);
    if (!sb_rd_ok(&rd)) return sb_err_set(err, SB_EAGAIN, "commit log header incomplete (%zu bytes)", len);

    uint32_t crc = (uint32_t)crc32(0, NULL, 0);
    crc = crc_int(crc, (uint32_t)d->version);
    crc = crc_int(crc, (uint32_t)((uint64_t)d->id & 0xFFFFFFFFu));
    crc = crc_int(crc, (uint32_t)((uint64_t)d->id >> 32));
    crc = crc_int(crc, plen);
    crc = (uint32_t)crc32(crc, params, plen);
    if (crc != claimed) return sb_err_set(err, SB_ECORRUPT, "commit log header CRC mismatch");

    switch (d->version) {
    case CL_VERSION_30: d->messaging_version = 10; break;
    case CL_VERSION_40: d->messaging_version = 12; break;
    case CL_VERSION_50: d->messaging_version = 13; break;
    default:
        return sb_err_set(err, SB_EINVAL,
                          "commit log version %d is not supported (6: Cassandra 3.x, 7: 4.x, 8: 5.0)", d->version);
    }
    d->header_len = (size_t)(rd.p - p);
    return parse_params(params, plen, d, err);
}

int cl_cdc_index_parse(const char *text, size_t len, uint64_t *offset, bool *completed)
{
    size_t i = 0;
    uint64_t v = 0;
    if (len == 0 || text[0] < '0' || text[0] > '9') return SB_EINVAL;
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10) return SB_EINVAL;
        v = v * 10 + (uint64_t)(text[i] - '0');
    }
    bool done = false;
    while (i < len && (text[i] == '\r' || text[i] == '\n')) i++;
    if (i < len) {
        const char *word = "COMPLETED";
        size_t wl = strlen(word);
        if (len - i < wl || memcmp(text + i, word, wl) != 0) return SB_EINVAL;
        done = true;
    }
    *offset = v;
    *completed = done;
    return 0;
}

int cl_reader_new(cl_reader_t **out, cl_key_lookup_fn keys, void *keys_ud)
{
    cl_reader_t *r = calloc(1, sizeof(*r));
    if (!r) return SB_ENOMEM;
    r->keys = keys;
    r->keys_ud = keys_ud;
    r->max_section = CL_DEFAULT_MAX_SECTION;
    *out = r;
    return 0;
}

void cl_reader_free(cl_reader_t *r)
{
    if (!r) return;
    if (r->cipher) EVP_CIPHER_CTX_free(r->cipher);
    OPENSSL_cleanse(r->key, sizeof(r->key));
    free(r->plain);
    free(r->chunk);
    free(r);
}

void cl_reader_set_max_section(cl_reader_t *r, size_t max_section)
{
    r->max_section = max_section;
}

const cl_descriptor_t *cl_reader_descriptor(const cl_reader_t *r)
{
    return &r->desc;
}

static int ensure(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64 * 1024;
    while (n < need) n *= 2;
    uint8_t *p = realloc(*buf, n);
    if (!p) return SB_ENOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

static void torn(cl_read_state_t *st, const char *fmt, unsigned long long at)
{
    st->stop = CL_STOP_TORN;
    snprintf(st->detail, sizeof(st->detail), fmt, at);
}

/* Decompresses with the segment's compressor (the ICompressor classes of
 * org.apache.cassandra.io.compress). LZ4Compressor prefixes its block with the uncompressed
 * length, little-endian; Deflate is a zlib stream (java.util.zip.Inflater's default); Snappy
 * and Zstd are their libraries' plain block and frame formats. Returns the output length or -1. */
static long decompress(cl_compression_t c, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len)
{
    switch (c) {
    case CL_COMPRESSION_LZ4: {
        if (in_len < 4 || in_len - 4 > INT32_MAX || out_len > INT32_MAX) return -1;
        uint32_t n = (uint32_t)in[0] | (uint32_t)in[1] << 8 | (uint32_t)in[2] << 16 | (uint32_t)in[3] << 24;
        if (n > out_len) return -1;
        int got = LZ4_decompress_safe((const char *)in + 4, (char *)out, (int)(in_len - 4), (int)n);
        return got == (int)n ? (long)n : -1;
    }
    case CL_COMPRESSION_SNAPPY: {
        size_t n = out_len;
        if (snappy_uncompress((const char *)in, in_len, (char *)out, &n) != SNAPPY_OK) return -1;
        return (long)n;
    }
    case CL_COMPRESSION_DEFLATE: {
        uLongf n = (uLongf)out_len;
        if (uncompress(out, &n, in, (uLong)in_len) != Z_OK) return -1;
        return (long)n;
    }
    case CL_COMPRESSION_ZSTD: {
        size_t n = ZSTD_decompress(out, out_len, in, in_len);
        return ZSTD_isError(n) ? -1 : (long)n;
    }
    default: return -1;
    }
}

static int setup_cipher(cl_reader_t *r, sb_err_t *err)
{
    if (!r->keys) return sb_err_set(err, SB_EINVAL, "commit log is encrypted (key alias %s) but no key is configured",
                                   r->desc.key_alias);
    r->key_len = 0;
    if (r->keys(r->keys_ud, r->desc.key_alias, r->key, &r->key_len) != 0 ||
        (r->key_len != 16 && r->key_len != 24 && r->key_len != 32))
        return sb_err_set(err, SB_ENOENT, "no AES key for commit log key alias %s", r->desc.key_alias);
    if (!r->cipher && !(r->cipher = EVP_CIPHER_CTX_new())) return SB_ENOMEM;
    return 0;
}

/* One encrypted chunk (EncryptionUtils.encryptAndWrite): [int encrypted length][int plain
 * length][ciphertext]. Java re-initialises the cipher with the header's IV for every chunk
 * (doFinal resets it), so each chunk is decrypted from that IV. The plain text is
 * [int uncompressed length][LZ4Compressor block] (EncryptionUtils.compress). The
 * decompressed bytes are appended to r->plain at *used. */
static int read_encrypted_chunk(cl_reader_t *r, sb_rd_t *rd, size_t *used, size_t total)
{
    uint32_t enc_len = sb_rd_u32(rd);
    uint32_t plain_len = sb_rd_u32(rd);
    const uint8_t *ct = sb_rd_bytes(rd, enc_len);
    if (!sb_rd_ok(rd) || enc_len == 0 || enc_len % 16 != 0 || plain_len > enc_len) return SB_ECORRUPT;
    if (ensure(&r->chunk, &r->chunk_cap, enc_len + 16) != 0) return SB_ENOMEM;
    const EVP_CIPHER *alg = r->key_len == 16 ? EVP_aes_128_cbc() : r->key_len == 24 ? EVP_aes_192_cbc() : EVP_aes_256_cbc();
    int n1 = 0, n2 = 0;
    if (EVP_DecryptInit_ex(r->cipher, alg, NULL, r->key, r->desc.iv) != 1 ||
        EVP_DecryptUpdate(r->cipher, r->chunk, &n1, ct, (int)enc_len) != 1 ||
        EVP_DecryptFinal_ex(r->cipher, r->chunk + n1, &n2) != 1)
        return SB_ECORRUPT;
    if ((size_t)(n1 + n2) != plain_len || plain_len < 4) return SB_ECORRUPT;
    uint32_t out_len = be32(r->chunk);
    if (out_len > total - *used) return SB_ECORRUPT;
    long got = decompress(CL_COMPRESSION_LZ4, r->chunk + 4, plain_len - 4, r->plain + *used, out_len);
    if (got != (long)out_len) return SB_ECORRUPT;
    *used += out_len;
    return 0;
}

/* Reads the entries of one section (CommitLogReader.readSection): [int size][int CRC32 of
 * size][size bytes][int CRC32 of size and bytes]. Positions are logical: `base` is the
 * logical position of data[0]. Returns 0, or 1 when the callback asked to stop. */
static int read_entries(const uint8_t *data, size_t len, uint64_t base, uint64_t section_offset,
                        cl_read_state_t *st, cl_entry_fn fn, void *ud)
{
    sb_rd_t rd;
    sb_rd_init(&rd, data, len);
    while (sb_rd_remaining(&rd) >= 4) {
        uint64_t at = base + (uint64_t)(rd.p - data);
        uint32_t size = sb_rd_u32(&rd);
        /* Zero is the end-of-segment marker of older writers: nothing follows in this segment. */
        if (size == 0) {
            st->stop = CL_STOP_END;
            return 0;
        }
        uint32_t size_crc = sb_rd_u32(&rd);
        uint32_t crc = crc_int((uint32_t)crc32(0, NULL, 0), size);
        if (!sb_rd_ok(&rd) || size < CL_MIN_ENTRY_SIZE || size_crc != crc) {
            torn(st, "bad entry size or size CRC at position %llu", (unsigned long long)at);
            return 0;
        }
        const uint8_t *body = sb_rd_bytes(&rd, size);
        uint32_t body_crc = sb_rd_u32(&rd);
        if (!sb_rd_ok(&rd)) {
            torn(st, "entry at position %llu runs past its section", (unsigned long long)at);
            return 0;
        }
        uint64_t pos = base + (uint64_t)(rd.p - data);
        if ((uint32_t)crc32(crc, body, size) != body_crc) {
            /* Cassandra skips an entry whose body CRC fails and goes on with the next one. */
            st->bad_entries++;
            continue;
        }
        if (pos <= st->delivered) continue;
        cl_entry_t e = {.data = body, .len = size, .section_offset = section_offset, .position = pos};
        st->delivered = pos;
        st->entries++;
        if (fn && fn(ud, &e) != 0) {
            st->stop = CL_STOP_CALLBACK;
            return 1;
        }
    }
    return 0;
}

int cl_reader_read(cl_reader_t *r, const uint8_t *buf, size_t len, cl_read_state_t *st, cl_entry_fn fn, void *ud,
                   sb_err_t *err)
{
    st->stop = CL_STOP_NONE;
    st->detail[0] = '\0';
    int rc = cl_descriptor_parse(buf, len, &r->desc, err);
    if (rc == SB_EAGAIN) {
        st->stop = CL_STOP_NEED_MORE;
        return 0;
    }
    if (rc != 0) return rc;
    r->have_desc = true;
    if (r->desc.encrypted && (rc = setup_cipher(r, err)) != 0) return rc;
    if (st->next_section == 0) {
        st->next_section = r->desc.header_len;
        st->next_logical = r->desc.header_len;
    }
    if (st->next_section < r->desc.header_len)
        return sb_err_set(err, SB_ERANGE, "resume offset %llu is not inside the segment",
                          (unsigned long long)st->next_section);

    for (;;) {
        uint64_t off = st->next_section;
        /* CommitLogSegmentReader.readSyncMarker: fewer than 8 bytes left is the end. */
        if (off + CL_SYNC_MARKER_SIZE > len) {
            st->stop = CL_STOP_NEED_MORE;
            return 0;
        }
        uint32_t end = be32(buf + off);
        uint32_t claimed = be32(buf + off + 4);
        uint32_t crc = (uint32_t)crc32(0, NULL, 0);
        crc = crc_int(crc, (uint32_t)((uint64_t)r->desc.id & 0xFFFFFFFFu));
        crc = crc_int(crc, (uint32_t)((uint64_t)r->desc.id >> 32));
        crc = crc_int(crc, (uint32_t)off);
        if (crc != claimed) {
            if (end == 0 && claimed == 0) st->stop = CL_STOP_END;
            else torn(st, "sync marker at %llu has a bad CRC", (unsigned long long)off);
            return 0;
        }
        if (end < off + CL_SYNC_MARKER_SIZE) {
            torn(st, "sync marker at %llu points backwards", (unsigned long long)off);
            return 0;
        }
        if (end > len) {
            st->stop = CL_STOP_NEED_MORE;
            return 0;
        }
        uint64_t data_off = off + CL_SYNC_MARKER_SIZE;
        uint64_t logical = st->next_logical + CL_SYNC_MARKER_SIZE;
        uint64_t plain_len;
        if (r->desc.encrypted) {
            /* CommitLogSegmentReader.EncryptedSegmenter: [int plain length of the section] then
             * chunks until the file position reaches the next marker. */
            sb_rd_t rd;
            sb_rd_init(&rd, buf + data_off, end - data_off);
            plain_len = sb_rd_u32(&rd);
            if (!sb_rd_ok(&rd) || plain_len > r->max_section ||
                plain_len > (uint64_t)LZ4_MAX_RATIO * (end - data_off) + 64) {
                torn(st, "encrypted section at %llu has a bad length", (unsigned long long)off);
                return 0;
            }
            if (ensure(&r->plain, &r->plain_cap, plain_len ? plain_len : 1) != 0) return SB_ENOMEM;
            size_t used = 0;
            while (sb_rd_ok(&rd) && sb_rd_remaining(&rd) > 1) {
                rc = read_encrypted_chunk(r, &rd, &used, plain_len);
                if (rc == SB_ENOMEM) return rc;
                if (rc != 0) {
                    torn(st, "encrypted section at %llu does not decrypt or decompress", (unsigned long long)off);
                    return 0;
                }
            }
            if (used != plain_len) {
                torn(st, "encrypted section at %llu is shorter than its header says", (unsigned long long)off);
                return 0;
            }
            if (read_entries(r->plain, plain_len, logical, off, st, fn, ud)) return 0;
        } else if (r->desc.compression != CL_COMPRESSION_NONE) {
            /* CommitLogSegmentReader.CompressedSegmenter: [int uncompressed length][compressed
             * bytes up to the next marker]. */
            if (end - data_off < 4) {
                torn(st, "compressed section at %llu is too short", (unsigned long long)off);
                return 0;
            }
            plain_len = be32(buf + data_off);
            if (plain_len > r->max_section ||
                (r->desc.compression == CL_COMPRESSION_LZ4 && plain_len > (uint64_t)LZ4_MAX_RATIO * (end - data_off) + 64)) {
                torn(st, "compressed section at %llu claims an absurd length", (unsigned long long)off);
                return 0;
            }
            if (ensure(&r->plain, &r->plain_cap, plain_len ? plain_len : 1) != 0) return SB_ENOMEM;
            long got = decompress(r->desc.compression, buf + data_off + 4, end - data_off - 4, r->plain, plain_len);
            if (got != (long)plain_len) {
                torn(st, "compressed section at %llu does not decompress", (unsigned long long)off);
                return 0;
            }
            if (read_entries(r->plain, plain_len, logical, off, st, fn, ud)) return 0;
        } else {
            plain_len = end - data_off;
            if (read_entries(buf + data_off, plain_len, data_off, off, st, fn, ud)) return 0;
        }
        if (st->stop == CL_STOP_TORN || st->stop == CL_STOP_END) return 0;
        st->sections++;
        st->next_section = end;
        /* Plain segments' positions are file offsets; the others count plain-text bytes. */
        st->next_logical = (r->desc.encrypted || r->desc.compression != CL_COMPRESSION_NONE) ? logical + plain_len : end;
    }
}
