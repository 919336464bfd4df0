#ifndef STREAMBUS_COMMON_ERR_H
#define STREAMBUS_COMMON_ERR_H

/* Error detail that travels beside a negative return code (house rule 1).
 * Functions return 0 on success or a negative SB_E* code; when the caller passes a
 * non-NULL sb_err_t, the failing function fills in a short factual message. */

#include <stdarg.h>

enum {
    SB_OK = 0,
    SB_EINVAL = -1,   /* bad input: config value, malformed bytes, bad argument */
    SB_EIO = -2,      /* file or socket I/O failed; errno-derived detail in message */
    SB_ENOMEM = -3,   /* allocation failed */
    SB_ENOENT = -4,   /* a named thing does not exist */
    SB_EEXIST = -5,   /* a named thing already exists */
    SB_ERANGE = -6,   /* offset or size outside the valid range */
    SB_ECORRUPT = -7, /* stored data failed validation (CRC, sizes) */
    SB_EAGAIN = -8,   /* not ready yet; try again later (non-blocking state machines) */
    SB_ELIMIT = -9,   /* a configured limit was exceeded */
};

typedef struct sb_err {
    int code;
    char msg[512];
} sb_err_t;

/* Sets code and a printf-style message on err (which may be NULL); returns code so that
 * callers can write `return sb_err_set(err, SB_EINVAL, "...")`. */
int sb_err_set(sb_err_t *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Short name of a code, e.g. "EINVAL". */
const char *sb_err_name(int code);

#endif
