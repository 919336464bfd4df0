#include "common/base64.h"

#include "common/err.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sb_base64_encode(const uint8_t *in, size_t n, char *out, size_t cap)
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
        out[o++] = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? alphabet[v & 63] : '=';
    }
    out[o] = 0;
    return (int)o;
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int sb_base64_decode(const char *in, size_t n, uint8_t *out, size_t cap)
{
    if (n % 4 != 0 || n / 4 * 3 > (size_t)INT32_MAX) return SB_EINVAL;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int pad = 0;
        if (in[i + 3] == '=') pad = in[i + 2] == '=' ? 2 : 1;
        /* Padding only in the last quantum. */
        if (pad && i + 4 != n) return SB_EINVAL;
        int v[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4 - pad; k++) {
            v[k] = b64_val(in[i + k]);
            if (v[k] < 0) return SB_EINVAL;
        }
        uint32_t w = ((uint32_t)v[0] << 18) | ((uint32_t)v[1] << 12) | ((uint32_t)v[2] << 6) | (uint32_t)v[3];
        /* Unused bits must be zero, so each value has one encoding. */
        if ((pad == 1 && (w & 0xff) != 0) || (pad == 2 && (w & 0xffff) != 0)) return SB_EINVAL;
        size_t emit = 3 - (size_t)pad;
        if (o + emit > cap) return SB_ERANGE;
        out[o++] = (uint8_t)(w >> 16);
        if (emit > 1) out[o++] = (uint8_t)(w >> 8);
        if (emit > 2) out[o++] = (uint8_t)w;
    }
    return (int)o;
}
