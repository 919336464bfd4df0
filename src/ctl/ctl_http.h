#ifndef STREAMBUS_CTL_CTL_HTTP_H
#define STREAMBUS_CTL_CTL_HTTP_H

/* The JSON-over-HTTP client of the ctl commands that speak to a REST API (connect, jobs). */

#include <jansson.h>

#include "common/buf.h"

typedef struct ctl_http_result {
    long status;
    sb_wr_t body; /* the caller deinits it, also after a failure */
} ctl_http_result_t;

/* Sends one request with Content-Type: application/json and, when bearer is not NULL, an
 * Authorization: Bearer header. Returns 0 with status and body, or -1 when the server could not
 * be reached (reason in errbuf, CURL_ERROR_SIZE bytes). */
int ctl_http_call(const char *method, const char *url, const char *bearer, const char *body,
                  long timeout_ms, ctl_http_result_t *res, char *errbuf);
/* The body parsed as JSON, or NULL when empty or not JSON (caller decrefs). */
json_t *ctl_http_json(const ctl_http_result_t *res);

#endif
