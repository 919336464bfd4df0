/* ACL administration: DescribeAcls (29), CreateAcls (30) and DeleteAcls (31), v0–v3 (v1 adds
 * the resource pattern type, v2 is flexible, v3 only adds the USER resource type). As in
 * Kafka, creating and deleting ACLs needs ALTER on the cluster and describing them DESCRIBE
 * on the cluster; without an authorizer every answer is SECURITY_DISABLED. Changes are
 * applied to a copy of the ACLs, persisted, and only then swapped in, so a failed write
 * leaves the broker with exactly what is on disk. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "security/authorizer.h"

static char *slice_dup(sb_slice_t s)
{
    return s.len < 0 ? NULL : strndup((const char *)s.p, (size_t)s.len);
}

/* A string from the request that must not carry NUL bytes (they would cut it short in the
 * store and make two different names compare equal). */
static bool slice_has_nul(sb_slice_t s)
{
    return s.len > 0 && memchr(s.p, 0, (size_t)s.len) != NULL;
}

/* Why the ACL APIs cannot be served, or 0: no authorizer, or the principal lacks `op` on the
 * cluster. */
static int16_t acl_api_refusal(broker_t *b, kreq_t *req, int op, const char **msg)
{
    if (!authorizer_enabled(b->authz)) {
        *msg = "No Authorizer is configured on the broker (authorizer.enabled is false)";
        return KAFKA_ERR_SECURITY_DISABLED;
    }
    if (!broker_authorize_cluster(b, req, op)) {
        *msg = op == ACL_OP_ALTER ? "ALTER on the cluster is needed to change ACLs"
                                  : "DESCRIBE on the cluster is needed to list ACLs";
        return KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED;
    }
    return 0;
}

/* ---- decoding shared by DescribeAcls and DeleteAcls ---- */

typedef struct filter_buf {
    acl_filter_t f;
    char *name, *principal, *host;
    bool bad_string;
} filter_buf_t;

static void filter_buf_free(filter_buf_t *fb)
{
    free(fb->name);
    free(fb->principal);
    free(fb->host);
}

/* Reads one filter; false when out of memory (the reader's error flags malformed input). */
static bool read_filter(sb_rd_t *rd, int16_t v, bool flex, filter_buf_t *fb)
{
    memset(fb, 0, sizeof(*fb));
    fb->f.resource_type = sb_rd_i8(rd);
    sb_slice_t name = sb_rd_str(rd, flex);
    fb->f.pattern_type = v >= 1 ? sb_rd_i8(rd) : ACL_PATTERN_LITERAL;
    sb_slice_t principal = sb_rd_str(rd, flex);
    sb_slice_t host = sb_rd_str(rd, flex);
    fb->f.operation = sb_rd_i8(rd);
    fb->f.permission = sb_rd_i8(rd);
    if (!sb_rd_ok(rd)) return true;
    fb->bad_string = slice_has_nul(name) || slice_has_nul(principal) || slice_has_nul(host);
    fb->name = slice_dup(name);
    fb->principal = slice_dup(principal);
    fb->host = slice_dup(host);
    if ((name.len >= 0 && !fb->name) || (principal.len >= 0 && !fb->principal) || (host.len >= 0 && !fb->host))
        return false;
    fb->f.resource_name = fb->name;
    fb->f.principal = fb->principal;
    fb->f.host = fb->host;
    return true;
}

/* Kafka's answer to a filter it cannot use. */
static int16_t check_filter(const filter_buf_t *fb, char *msg, size_t cap)
{
    sb_err_t e = {0};
    if (fb->bad_string) {
        snprintf(msg, cap, "ACL filter strings must not contain NUL bytes");
        return KAFKA_ERR_INVALID_REQUEST;
    }
    if (acl_filter_validate(&fb->f, &e) < 0) {
        snprintf(msg, cap, "Invalid ACL filter: %.200s", e.msg);
        return KAFKA_ERR_INVALID_REQUEST;
    }
    return 0;
}

/* ---- CreateAcls ---- */

typedef struct creation {
    acl_binding_t b;
    char *name, *principal, *host;
    int16_t error;
    char msg[256];
} creation_t;

int handle_CreateAcls(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    int32_t n = sb_rd_array(rd, flex, 7);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    creation_t *c = calloc((size_t)(n ? n : 1), sizeof(*c));
    if (!c) return -1;
    int rc = -1;
    for (int32_t i = 0; i < n; i++) {
        c[i].b.resource_type = sb_rd_i8(rd);
        sb_slice_t name = sb_rd_str(rd, flex);
        c[i].b.pattern_type = v >= 1 ? sb_rd_i8(rd) : ACL_PATTERN_LITERAL;
        sb_slice_t principal = sb_rd_str(rd, flex);
        sb_slice_t host = sb_rd_str(rd, flex);
        c[i].b.operation = sb_rd_i8(rd);
        c[i].b.permission = sb_rd_i8(rd);
        if (flex) sb_rd_tags(rd);
        if (!sb_rd_ok(rd)) goto out;
        if (slice_has_nul(name) || slice_has_nul(principal) || slice_has_nul(host)) {
            c[i].error = KAFKA_ERR_INVALID_REQUEST;
            snprintf(c[i].msg, sizeof(c[i].msg), "ACL strings must not contain NUL bytes");
            continue;
        }
        c[i].name = slice_dup(name);
        c[i].principal = slice_dup(principal);
        c[i].host = slice_dup(host);
        c[i].b.resource_name = c[i].name;
        c[i].b.principal = c[i].principal;
        c[i].b.host = c[i].host;
    }
    if (flex) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) goto out;

    const char *why = NULL;
    int16_t refusal = acl_api_refusal(b, req, ACL_OP_ALTER, &why);
    acl_store_t *next = NULL;
    if (!refusal && acl_store_clone(authorizer_acls(b->authz), &next) < 0) {
        refusal = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        why = "out of memory";
    }
    int added = 0;
    for (int32_t i = 0; i < n && !refusal; i++) {
        if (c[i].error) continue;
        sb_err_t e = {0};
        if (acl_store_add(next, &c[i].b, &e) < 0) {
            c[i].error = e.code == SB_ENOMEM ? KAFKA_ERR_UNKNOWN_SERVER_ERROR : KAFKA_ERR_INVALID_REQUEST;
            snprintf(c[i].msg, sizeof(c[i].msg), "Invalid ACL: %.200s", e.msg);
        } else {
            added++;
        }
    }
    if (!refusal && added > 0) {
        sb_err_t e = {0};
        if (authorizer_replace_acls(b->authz, next, &e) < 0) {
            sb_error("acl", "CreateAcls: could not store the ACLs: %s", e.msg);
            refusal = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            why = "the ACLs could not be stored";
        } else {
            next = NULL;
            authz_subject_t who;
            broker_request_subject(req, &who);
            for (int32_t i = 0; i < n; i++)
                if (!c[i].error) authorizer_audit_change(b->authz, &who, "CreateAcls", &c[i].b);
        }
    }
    acl_store_free(next);

    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, flex, n);
    for (int32_t i = 0; i < n; i++) {
        int16_t err = refusal ? refusal : c[i].error;
        sb_wr_i16(resp, err);
        sb_wr_str(resp, flex, refusal ? why : (err ? c[i].msg : NULL));
        sb_wr_tags(resp, flex);
    }
    sb_wr_tags(resp, flex);
    rc = KAFKA_HANDLER_DONE;
out:
    for (int32_t i = 0; i < n; i++) {
        free(c[i].name);
        free(c[i].principal);
        free(c[i].host);
    }
    free(c);
    return rc;
}

/* ---- DescribeAcls ---- */

/* A copy of bindings (the store's strings stay valid while the store is unchanged). */
typedef struct binding_vec {
    acl_binding_t *v;
    size_t n, cap;
    bool oom;
} binding_vec_t;

static void vec_push(void *arg, const acl_binding_t *bd)
{
    binding_vec_t *vec = arg;
    if (vec->n == vec->cap) {
        size_t nc = vec->cap ? vec->cap * 2 : 16;
        acl_binding_t *nv = realloc(vec->v, nc * sizeof(*nv));
        if (!nv) {
            vec->oom = true;
            return;
        }
        vec->v = nv;
        vec->cap = nc;
    }
    vec->v[vec->n++] = *bd;
}

static int resource_cmp(const void *pa, const void *pb)
{
    const acl_binding_t *a = pa, *b = pb;
    if (a->resource_type != b->resource_type) return a->resource_type - b->resource_type;
    if (a->pattern_type != b->pattern_type) return a->pattern_type - b->pattern_type;
    return strcmp(a->resource_name, b->resource_name);
}

int handle_DescribeAcls(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    filter_buf_t fb;
    bool mem_ok = read_filter(rd, v, flex, &fb);
    if (flex) sb_rd_tags(rd);
    if (!sb_rd_ok(rd) || !mem_ok) {
        filter_buf_free(&fb);
        return -1;
    }
    char msg[300] = "";
    const char *why = NULL;
    int16_t err = acl_api_refusal(b, req, ACL_OP_DESCRIBE, &why);
    if (why) snprintf(msg, sizeof(msg), "%s", why);
    if (!err) err = check_filter(&fb, msg, sizeof(msg));
    binding_vec_t vec = {0};
    if (!err) {
        acl_store_foreach(authorizer_acls(b->authz), &fb.f, vec_push, &vec);
        if (vec.oom) {
            err = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            snprintf(msg, sizeof(msg), "out of memory");
        }
    }
    /* v0 answers have no pattern type: only LITERAL bindings can be shown without lying. */
    if (!err && v == 0) {
        size_t k = 0;
        for (size_t i = 0; i < vec.n; i++)
            if (vec.v[i].pattern_type == ACL_PATTERN_LITERAL) vec.v[k++] = vec.v[i];
        vec.n = k;
    }
    if (err) vec.n = 0;
    if (vec.n) qsort(vec.v, vec.n, sizeof(*vec.v), resource_cmp); /* qsort(NULL, 0) is undefined */

    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_i16(resp, err);
    sb_wr_str(resp, flex, err ? msg : NULL);
    int32_t nres = 0;
    for (size_t i = 0; i < vec.n; i++)
        if (i == 0 || resource_cmp(&vec.v[i - 1], &vec.v[i]) != 0) nres++;
    sb_wr_array(resp, flex, nres);
    for (size_t i = 0; i < vec.n;) {
        size_t j = i;
        while (j < vec.n && resource_cmp(&vec.v[i], &vec.v[j]) == 0) j++;
        sb_wr_i8(resp, vec.v[i].resource_type);
        sb_wr_str(resp, flex, vec.v[i].resource_name);
        if (v >= 1) sb_wr_i8(resp, vec.v[i].pattern_type);
        sb_wr_array(resp, flex, (int32_t)(j - i));
        for (size_t k = i; k < j; k++) {
            sb_wr_str(resp, flex, vec.v[k].principal);
            sb_wr_str(resp, flex, vec.v[k].host);
            sb_wr_i8(resp, vec.v[k].operation);
            sb_wr_i8(resp, vec.v[k].permission);
            sb_wr_tags(resp, flex);
        }
        sb_wr_tags(resp, flex);
        i = j;
    }
    sb_wr_tags(resp, flex);
    free(vec.v);
    filter_buf_free(&fb);
    return KAFKA_HANDLER_DONE;
}

/* ---- DeleteAcls ---- */

/* One removed binding, with its own copies of the strings (the store that held them is
 * freed when the change is swapped in). */
typedef struct removed {
    acl_binding_t b;
    char *name, *principal, *host;
} removed_t;

typedef struct removed_vec {
    removed_t *v;
    size_t n, cap;
    bool oom;
} removed_vec_t;

static void removed_push(void *arg, const acl_binding_t *bd)
{
    removed_vec_t *rv = arg;
    if (rv->oom) return;
    if (rv->n == rv->cap) {
        size_t nc = rv->cap ? rv->cap * 2 : 8;
        removed_t *nv = realloc(rv->v, nc * sizeof(*nv));
        if (!nv) {
            rv->oom = true;
            return;
        }
        rv->v = nv;
        rv->cap = nc;
    }
    removed_t *r = &rv->v[rv->n];
    r->b = *bd;
    r->name = strdup(bd->resource_name);
    r->principal = strdup(bd->principal);
    r->host = strdup(bd->host);
    if (!r->name || !r->principal || !r->host) {
        free(r->name);
        free(r->principal);
        free(r->host);
        rv->oom = true;
        return;
    }
    r->b.resource_name = r->name;
    r->b.principal = r->principal;
    r->b.host = r->host;
    rv->n++;
}

static void removed_vec_free(removed_vec_t *rv)
{
    for (size_t i = 0; i < rv->n; i++) {
        free(rv->v[i].name);
        free(rv->v[i].principal);
        free(rv->v[i].host);
    }
    free(rv->v);
}

typedef struct delete_result {
    filter_buf_t fb;
    int16_t error;
    char msg[300];
    removed_vec_t removed;
} delete_result_t;

int handle_DeleteAcls(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int16_t v = req->api_version;
    bool flex = req->flexible;
    int32_t n = sb_rd_array(rd, flex, 7);
    if (!sb_rd_ok(rd) || n < 0) return -1;
    delete_result_t *r = calloc((size_t)(n ? n : 1), sizeof(*r));
    if (!r) return -1;
    int rc = -1;
    int32_t nread = 0;
    for (int32_t i = 0; i < n; i++) {
        nread = i + 1;
        bool mem_ok = read_filter(rd, v, flex, &r[i].fb);
        if (flex) sb_rd_tags(rd);
        if (!sb_rd_ok(rd) || !mem_ok) goto out;
    }
    if (flex) sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) goto out;

    const char *why = NULL;
    int16_t refusal = acl_api_refusal(b, req, ACL_OP_ALTER, &why);
    acl_store_t *next = NULL;
    if (!refusal && acl_store_clone(authorizer_acls(b->authz), &next) < 0) {
        refusal = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        why = "out of memory";
    }
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (refusal) {
            r[i].error = refusal;
            snprintf(r[i].msg, sizeof(r[i].msg), "%s", why);
            continue;
        }
        if ((r[i].error = check_filter(&r[i].fb, r[i].msg, sizeof(r[i].msg)))) continue;
        total += acl_store_remove(next, &r[i].fb.f, removed_push, &r[i].removed);
        if (r[i].removed.oom) {
            r[i].error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
            snprintf(r[i].msg, sizeof(r[i].msg), "out of memory");
        }
    }
    if (!refusal && total > 0) {
        sb_err_t e = {0};
        if (authorizer_replace_acls(b->authz, next, &e) < 0) {
            sb_error("acl", "DeleteAcls: could not store the ACLs: %s", e.msg);
            for (int32_t i = 0; i < n; i++) {
                r[i].error = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                snprintf(r[i].msg, sizeof(r[i].msg), "the ACLs could not be stored");
            }
        } else {
            next = NULL;
            authz_subject_t who;
            broker_request_subject(req, &who);
            for (int32_t i = 0; i < n; i++)
                for (size_t k = 0; k < r[i].removed.n; k++)
                    authorizer_audit_change(b->authz, &who, "DeleteAcls", &r[i].removed.v[k].b);
        }
    }
    acl_store_free(next);

    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, flex, n);
    for (int32_t i = 0; i < n; i++) {
        sb_wr_i16(resp, r[i].error);
        sb_wr_str(resp, flex, r[i].error ? r[i].msg : NULL);
        size_t nm = r[i].error ? 0 : r[i].removed.n;
        sb_wr_array(resp, flex, (int32_t)nm);
        for (size_t k = 0; k < nm; k++) {
            const acl_binding_t *bd = &r[i].removed.v[k].b;
            sb_wr_i16(resp, 0);
            sb_wr_str(resp, flex, NULL);
            sb_wr_i8(resp, bd->resource_type);
            sb_wr_str(resp, flex, bd->resource_name);
            if (v >= 1) sb_wr_i8(resp, bd->pattern_type);
            sb_wr_str(resp, flex, bd->principal);
            sb_wr_str(resp, flex, bd->host);
            sb_wr_i8(resp, bd->operation);
            sb_wr_i8(resp, bd->permission);
            sb_wr_tags(resp, flex);
        }
        sb_wr_tags(resp, flex);
    }
    sb_wr_tags(resp, flex);
    rc = KAFKA_HANDLER_DONE;
out:
    for (int32_t i = 0; i < nread; i++) {
        filter_buf_free(&r[i].fb);
        removed_vec_free(&r[i].removed);
    }
    free(r);
    return rc;
}
