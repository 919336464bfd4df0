#include "common/err.h"

#include <stdio.h>

int sb_err_set(sb_err_t *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *sb_err_name(int code)
{
    switch (code) {
    case SB_OK: return "OK";
    case SB_EINVAL: return "EINVAL";
    case SB_EIO: return "EIO";
    case SB_ENOMEM: return "ENOMEM";
    case SB_ENOENT: return "ENOENT";
    case SB_EEXIST: return "EEXIST";
    case SB_ERANGE: return "ERANGE";
    case SB_ECORRUPT: return "ECORRUPT";
    case SB_EAGAIN: return "EAGAIN";
    case SB_ELIMIT: return "ELIMIT";
    }
    return "EUNKNOWN";
}
