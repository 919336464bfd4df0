/* The broker's side of authorization: who the request's connection is, and the decision,
 * metrics and audit line for one check (see authz.h). */
#include "broker/authz.h"

#include <stdio.h>
#include <string.h>

#include "broker/broker_int.h"
#include "broker/metrics_broker.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "net/conn.h"
#include "security/authorizer.h"

const char *broker_request_principal(const kreq_t *req)
{
    /* The net layer starts every connection as User:ANONYMOUS; TLS client certificates and
     * SASL replace it. */
    const char *p = req->conn ? net_conn_security_const(req->conn)->principal : NULL;
    return p ? p : NET_PRINCIPAL_ANONYMOUS;
}

void broker_request_subject(const kreq_t *req, authz_subject_t *who)
{
    const net_security_t *sec = req->conn ? net_conn_security_const(req->conn) : NULL;
    const char *host = sec ? sec->peer_host : "";
    who->principal = broker_request_principal(req);
    who->host = host[0] == '/' ? host + 1 : host; /* "/127.0.0.1" -> the IP ACLs name */
    who->address = sec ? sec->peer : "";
    who->api = kafka_api_name(req->api_key);
}

static bool authorize(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len,
                      bool audit)
{
    if (!authorizer_enabled(b->authz)) return true;
    authz_subject_t who;
    broker_request_subject(req, &who);
    bool ok = authorizer_authorize(b->authz, &who, op, resource_type, name ? name : "",
                                   name && len > 0 ? (size_t)len : 0, audit);
    /* Quiet checks only filter what a request sees; they are not denials of the request. */
    if (!ok && audit) broker_metrics_authz_denied(b->m, req->api_key);
    return ok;
}

bool broker_authorize(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len)
{
    return authorize(b, req, op, resource_type, name, len, true);
}

bool broker_authorize_quiet(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len)
{
    return authorize(b, req, op, resource_type, name, len, false);
}

bool broker_authorize_any(broker_t *b, const kreq_t *req, int op, int resource_type)
{
    if (!authorizer_enabled(b->authz)) return true;
    authz_subject_t who;
    broker_request_subject(req, &who);
    return authorizer_authorize_any(b->authz, &who, op, resource_type);
}

int broker_authz_init(broker_t *b, sb_err_t *err)
{
    const broker_options_t *o = &b->opt;
    authorizer_config_t cfg = {
        .enabled = o->authorizer_enabled,
        .allow_everyone_if_no_acl_found = o->allow_everyone_if_no_acl_found,
        .super_users = o->super_users,
        .audit_log = o->audit_log,
        .audit_allowed = o->audit_allowed,
    };
    char path[1100];
    snprintf(path, sizeof(path), "%s/.acls", o->data_dir);
    acl_storage_t st;
    int rc = acl_storage_file(path, &st, err);
    if (rc < 0) return rc;
    rc = authorizer_new(&cfg, &st, &b->authz, err);
    if (rc < 0) return rc;
    if (o->authorizer_enabled)
        sb_info("broker", "authorizer on: %zu ACL(s) from %s, allow_everyone_if_no_acl_found=%s", 
                acl_store_count(authorizer_acls(b->authz)), path, o->allow_everyone_if_no_acl_found ? "true" : "false");
    return 0;
}

void broker_authz_free(broker_t *b)
{
    authorizer_free(b->authz);
    b->authz = NULL;
}
