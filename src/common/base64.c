#include "common/base64.h"

#include "common/err.h"

static const char std_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int encode(const uint8_t *in, size_t n, char *out, size_t cap, const char *alphabet, int pad)
{
    size_t need = SB_BASE64_ENCODED_CAP(n);
    if (cap < need || need - 1 > (size_t)INT32_MAX) return SB_ERANGE;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = alphabet[(v >> 18) & 63];
        out[o++] = alphabet[(v >> 12) & 63];
        if (i + 1 < n || pad) out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        if (i + 2 < n || pad) out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = 0;
    return (int)o;
}

static int value_of(char c, const char *alphabet)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c && c == alphabet[62]) return 62;
    if (c && c == alphabet[63]) return 63;
    return -1;
}

/* Decodes unpadded text: whole quanta of four characters, then a tail of two or three. */
static int decode(const char *in, size_t n, uint8_t *out, size_t cap, const char *alphabet)
{
    if (n % 4 == 1 || n / 4 * 3 + 2 > (size_t)INT32_MAX) return SB_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        size_t chars = n - i < 4 ? n - i : 4;
        uint32_t w = 0;
        for (size_t k = 0; k < 4; k++) {
            int v = k < chars ? value_of(in[i + k], alphabet) : 0;
            if (v < 0) return SB_EINVAL;
            w = (w << 6) | (uint32_t)v;
        }
        /* Unused bits must be zero, so each value has one encoding. */
        if ((chars == 3 && (w & 0xff) != 0) || (chars == 2 && (w & 0xffff) != 0)) return SB_EINVAL;
        size_t emit = chars - 1;
        if (o + emit > cap) return SB_ERANGE;
        out[o++] = (uint8_t)(w >> 16);
        if (emit > 1) out[o++] = (uint8_t)(w >> 8);
        if (emit > 2) out[o++] = (uint8_t)w;
    }
    return (int)o;
}

int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    return encode(in, n, out, cap, std_alphabet, 1);
}

int sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0) return SB_EINVAL;
    /* Padding, one or two '=', only at the very end, and only in place of a quantum's tail. */
    size_t pad = n >= 1 && in[n - 1] == '=' ? (n >= 2 && in[n - 2] == '=' ? 2 : 1) : 0;
    return decode(in, n - pad, out, cap, std_alphabet);
}

int sb_base64url_encode(const uint8_t *in, size_t n, char *out, size_t cap)
{
    return encode(in, n, out, cap, url_alphabet, 0);
}

int sb_base64url_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    return decode(in, n, out, cap, url_alphabet);
}
