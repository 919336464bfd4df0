/* Small helpers of the connector contract that every connector and the runtime share. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "connect/connector.h"

void connect_config_error_add(connect_config_errors_t *e, const char *field, const char *fmt, ...)
{
    /* A response naming 32 wrong fields is already more than anyone reads; later ones are
     * dropped rather than overflowing the fixed table. */
    if (!e || e->count >= (int)(sizeof(e->items) / sizeof(e->items[0]))) return;
    for (int i = 0; i < e->count; i++) {
        /* One message per field: the first problem found is the one to fix first. */
        if (strcmp(e->items[i].field, field) == 0) return;
    }
    snprintf(e->items[e->count].field, sizeof(e->items[0].field), "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->items[e->count].msg, sizeof(e->items[0].msg), fmt, ap);
    va_end(ap);
    e->count++;
}

int connect_err_set(connect_err_t *err, connect_err_class_t cls, int index, const char *fmt, ...)
{
    if (err) {
        err->cls = cls;
        err->index = index;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

int connect_position_validate_count(const char *position, sb_err_t *err)
{
    char *end = NULL;
    errno = 0;
    long long v = position && *position ? strtoll(position, &end, 10) : -1;
    if (v < 0 || !end || *end || errno == ERANGE)
        return sb_err_set(err, SB_EINVAL, "position \"%s\" is not a record count (a non-negative integer)",
                          position ? position : "");
    return 0;
}
