#ifndef STREAMBUS_JOBS_API_H
#define STREAMBUS_JOBS_API_H

/* The REST API of the job orchestrator under /api/v1, mounted on an admin HTTP server and
 * guarded by the shared auth layer: viewer reads, operator submits/cancels/retries, admin can
 * do everything. See docs/jobs.md for every route. Handlers run on the HTTP thread and use
 * their own store connection (a short local PostgreSQL round trip per request). */

#include "common/err.h"
#include "http/admin_http.h"
#include "http/auth.h"
#include "jobs/jobs_config.h"
#include "jobs/store.h"

typedef struct jobs_api jobs_api_t;

/* Borrows all arguments; they must outlive the API. */
jobs_api_t *jobs_api_new(const jobs_config_t *cfg, jobs_store_t *store, http_auth_t *auth, sb_err_t *err);
int jobs_api_register(jobs_api_t *api, admin_http_t *http, sb_err_t *err);
void jobs_api_free(jobs_api_t *api);
/* hook(arg) runs after each submit that stored a job (the scheduler's kick). */
void jobs_api_on_submit(jobs_api_t *api, void (*hook)(void *arg), void *arg);

#endif
