#ifndef STREAMBUS_CONNECT_REST_H
#define STREAMBUS_CONNECT_REST_H

/* The connect REST API, shaped like Kafka Connect's, on the admin HTTP server:
 *   GET  /connectors                      names
 *   POST /connectors                      {"name":..,"config":{..}} -> 201, 409 if it exists
 *   GET  /connectors/{name}               {name, config, tasks, type}
 *   GET  /connectors/{name}/config        the config, secrets redacted
 *   PUT  /connectors/{name}/config        create (201) or update (200)
 *   GET  /connectors/{name}/status        {name, connector:{state,worker_id}, tasks:[..], type, details}
 *   PUT  /connectors/{name}/pause|resume  202
 *   POST /connectors/{name}/restart       204
 *   DELETE /connectors/{name}             204
 *   GET/PUT /connectors/{name}/offsets    a source's committed position {"position":..} (backup/restore)
 *   GET  /connector-plugins               [{class, type, version, description}]
 *   GET  /dlq/records?connector=&limit=&from_offset=
 *   POST /dlq/replay                      {"connector":..,"ids":[..]} or {"connector":..,"from_offset":..,"to_offset":..}
 * Reconciliation and erasure routes live in connect/reconcile/ (recon_rest_register).
 * Errors: {"error_code":N,"message":"..."}; a bad config is 400 with "errors":{field: message}.
 * Handlers run on the HTTP thread. */

#include "connect/worker.h"
#include "http/admin_http.h"
#include "http/auth.h"

int connect_rest_register(admin_http_t *http, connect_worker_t *w, sb_err_t *err);

/* The role each connect route needs (viewer reads; operator pauses, resumes, restarts,
 * replays; admin creates, reconfigures, deletes). */
int connect_rest_add_auth_rules(http_auth_t *auth);

/* Secrets never leave through the API: every string value of a config whose key names a
 * secret (password, secret, token, credential, api key, private key, sasl.jaas.config) is
 * replaced by "[hidden]", as are passwords inside libpq conninfo strings and URLs. A PUT that
 * sends "[hidden]" back keeps the stored value. */
bool connect_rest_sensitive_key(const char *key);
void connect_rest_redact_config(json_t *config);

/* Response helpers shared by every connect REST module: the body is `body` as compact JSON
 * (takes ownership), errors are {"error_code": status, "message": ...} as Kafka Connect's. */
void connect_rest_write_json(admin_http_response_t *resp, int status, json_t *body);
void connect_rest_write_error(admin_http_response_t *resp, int status, const char *message);

#endif
