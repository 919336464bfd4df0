/* `streambus ctl acl add|remove|list`: CreateAcls, DeleteAcls and DescribeAcls through
 * librdkafka's admin API, with kafka-acls.sh's options. librdkafka 2.0.2 knows the TOPIC,
 * GROUP and BROKER (the cluster) resource types, so transactional-id ACLs are made with
 * another Kafka admin client. */
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl_int.h"
#include "ctl/ctl_table.h"
#include "security/acl.h"

/* The binding or filter resource from the arguments; librdkafka names the cluster BROKER. */
static rd_kafka_ResourceType_t restype_of(int t)
{
    switch (t) {
    case ACL_RESOURCE_TOPIC: return RD_KAFKA_RESOURCE_TOPIC;
    case ACL_RESOURCE_GROUP: return RD_KAFKA_RESOURCE_GROUP;
    case ACL_RESOURCE_CLUSTER: return RD_KAFKA_RESOURCE_BROKER;
    default: return RD_KAFKA_RESOURCE_ANY;
    }
}

static const char *restype_name(rd_kafka_ResourceType_t t)
{
    return t == RD_KAFKA_RESOURCE_BROKER ? "CLUSTER" : acl_resource_type_name((int)t);
}

static int acl_fail(const char *what, rd_kafka_resp_err_t code, const char *text, sb_err_t *err)
{
    const char *hint = "";
    if (code == RD_KAFKA_RESP_ERR_SECURITY_DISABLED)
        hint = "; the broker runs without an authorizer (set authorizer.enabled: true)";
    else if (code == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED)
        hint = "; this principal needs ALTER (changes) or DESCRIBE (list) on the cluster, or to be a super user";
    return sb_err_set(err, SB_EIO, "%s failed: %s (%s)%s", what, text && text[0] ? text : rd_kafka_err2str(code),
                      rd_kafka_err2name(code), hint);
}

/* One binding per (permission, principal, operation), as kafka-acls.sh --add makes them. */
int ctl_acl_add(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_acl_args_t *a = &ctx->args->acl;
    size_t n = (a->allow_count + a->deny_count) * a->operation_count;
    rd_kafka_AclBinding_t **bindings = calloc(n, sizeof(*bindings));
    if (!bindings) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int rc = 0;
    size_t k = 0;
    char errstr[256];
    for (int deny = 0; deny < 2 && rc == 0; deny++) {
        const char *const *principals = deny ? a->deny_principals : a->allow_principals;
        size_t count = deny ? a->deny_count : a->allow_count;
        const char *host = deny ? (a->deny_host ? a->deny_host : "*") : (a->allow_host ? a->allow_host : "*");
        for (size_t i = 0; i < count && rc == 0; i++)
            for (size_t j = 0; j < a->operation_count && rc == 0; j++) {
                bindings[k] = rd_kafka_AclBinding_new(
                    restype_of(a->resource_type), a->resource_name,
                    a->pattern_type ? (rd_kafka_ResourcePatternType_t)a->pattern_type : RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                    principals[i], host, (rd_kafka_AclOperation_t)a->operations[j],
                    deny ? RD_KAFKA_ACL_PERMISSION_TYPE_DENY : RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW, errstr,
                    sizeof(errstr));
                if (!bindings[k]) rc = sb_err_set(err, SB_EINVAL, "invalid ACL: %s", errstr);
                else k++;
            }
    }
    rd_kafka_event_t *event = NULL;
    if (rc == 0) {
        rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_CREATEACLS, err);
        if (!options) rc = SB_ENOMEM;
        else {
            rd_kafka_CreateAcls(ctx->client.rk, bindings, k, options, ctx->client.results);
            rd_kafka_AdminOptions_destroy(options);
            rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_CREATEACLS_RESULT, "creating ACLs", &event, err);
        }
    }
    if (rc == 0) {
        size_t nres = 0;
        const rd_kafka_acl_result_t **res = rd_kafka_CreateAcls_result_acls(rd_kafka_event_CreateAcls_result(event), &nres);
        for (size_t i = 0; i < nres && rc == 0; i++) {
            const rd_kafka_error_t *e = rd_kafka_acl_result_error(res[i]);
            if (e) rc = acl_fail("creating ACLs", rd_kafka_error_code(e), rd_kafka_error_string(e), err);
        }
        if (rc == 0) {
            if (ctx->args->output == CTL_OUTPUT_JSON)
                rc = ctl_print_json(ctx, json_pack("{s:I}", "created", (json_int_t)k), err);
            else
                fprintf(ctx->out, "created %zu ACL binding(s) on %s \"%s\"\n", k,
                        acl_resource_type_name(a->resource_type), a->resource_name);
        }
    }
    if (event) rd_kafka_event_destroy(event);
    rd_kafka_AclBinding_destroy_array(bindings, k);
    free(bindings);
    return rc;
}

static json_t *binding_json(const rd_kafka_AclBinding_t *b)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "resource_type",
                     restype_name(rd_kafka_AclBinding_restype(b)), "resource_name", rd_kafka_AclBinding_name(b),
                     "pattern_type", rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(b)),
                     "principal", rd_kafka_AclBinding_principal(b), "host", rd_kafka_AclBinding_host(b), "operation",
                     rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b)), "permission",
                     rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b)));
}

static int print_bindings(ctl_ctx_t *ctx, const char *key, const rd_kafka_AclBinding_t **b, size_t n, sb_err_t *err)
{
    if (ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) json_array_append_new(arr, binding_json(b[i]));
        return ctl_print_json(ctx, arr ? json_pack("{s:o}", key, arr) : NULL, err);
    }
    static const char *const headers[] = {"RESOURCE", "NAME", "PATTERN", "PRINCIPAL", "HOST", "OPERATION",
                                          "PERMISSION"};
    ctl_table_t *t = ctl_table_new(7, headers);
    if (!t) return sb_err_set(err, SB_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *row[7] = {restype_name(rd_kafka_AclBinding_restype(b[i])), rd_kafka_AclBinding_name(b[i]),
                              rd_kafka_ResourcePatternType_name(rd_kafka_AclBinding_resource_pattern_type(b[i])),
                              rd_kafka_AclBinding_principal(b[i]), rd_kafka_AclBinding_host(b[i]),
                              rd_kafka_AclOperation_name(rd_kafka_AclBinding_operation(b[i])),
                              rd_kafka_AclPermissionType_name(rd_kafka_AclBinding_permission_type(b[i]))};
        ctl_table_add_row(t, row);
    }
    ctl_table_print(t, ctx->out);
    ctl_table_free(t);
    return 0;
}

int ctl_acl_list(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_acl_args_t *a = &ctx->args->acl;
    char errstr[256];
    rd_kafka_AclBindingFilter_t *filter = rd_kafka_AclBindingFilter_new(
        restype_of(a->resource_type), a->resource_name,
        a->pattern_type ? (rd_kafka_ResourcePatternType_t)a->pattern_type : RD_KAFKA_RESOURCE_PATTERN_ANY,
        a->principal, NULL, RD_KAFKA_ACL_OPERATION_ANY, RD_KAFKA_ACL_PERMISSION_TYPE_ANY, errstr, sizeof(errstr));
    if (!filter) return sb_err_set(err, SB_EINVAL, "invalid ACL filter: %s", errstr);
    rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DESCRIBEACLS, err);
    if (!options) {
        rd_kafka_AclBinding_destroy(filter);
        return SB_ENOMEM;
    }
    rd_kafka_DescribeAcls(ctx->client.rk, filter, options, ctx->client.results);
    rd_kafka_AdminOptions_destroy(options);
    rd_kafka_AclBinding_destroy(filter);
    rd_kafka_event_t *event;
    int rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DESCRIBEACLS_RESULT, "listing ACLs", &event, err);
    if (rc) return rc;
    if (rd_kafka_event_error(event)) {
        rc = acl_fail("listing ACLs", rd_kafka_event_error(event), rd_kafka_event_error_string(event), err);
    } else {
        size_t n = 0;
        const rd_kafka_AclBinding_t **acls = rd_kafka_DescribeAcls_result_acls(rd_kafka_event_DescribeAcls_result(event), &n);
        rc = print_bindings(ctx, "acls", acls, n, err);
    }
    rd_kafka_event_destroy(event);
    return rc;
}

/* One filter per (permission, principal, operation) given; a missing dimension matches any. */
int ctl_acl_remove(ctl_ctx_t *ctx, sb_err_t *err)
{
    const ctl_acl_args_t *a = &ctx->args->acl;
    const char *any_principal[1] = {NULL};
    int any_op[1] = {RD_KAFKA_ACL_OPERATION_ANY};
    const int *ops = a->operation_count ? a->operations : any_op;
    size_t nops = a->operation_count ? a->operation_count : 1;
    bool by_principal = a->allow_count + a->deny_count > 0;
    size_t n = (by_principal ? a->allow_count + a->deny_count : 1) * nops;
    rd_kafka_AclBindingFilter_t **filters = calloc(n, sizeof(*filters));
    if (!filters) return sb_err_set(err, SB_ENOMEM, "out of memory");
    char errstr[256];
    size_t k = 0;
    int rc = 0;
    for (int pass = 0; pass < (by_principal ? 2 : 1) && rc == 0; pass++) {
        const char *const *principals = !by_principal ? any_principal : pass ? a->deny_principals : a->allow_principals;
        size_t count = !by_principal ? 1 : pass ? a->deny_count : a->allow_count;
        rd_kafka_AclPermissionType_t perm = !by_principal ? RD_KAFKA_ACL_PERMISSION_TYPE_ANY
                                            : pass       ? RD_KAFKA_ACL_PERMISSION_TYPE_DENY
                                                         : RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW;
        const char *host = !by_principal ? NULL : pass ? a->deny_host : a->allow_host;
        for (size_t i = 0; i < count && rc == 0; i++)
            for (size_t j = 0; j < nops && rc == 0; j++) {
                filters[k] = rd_kafka_AclBindingFilter_new(
                    restype_of(a->resource_type), a->resource_name,
                    a->pattern_type ? (rd_kafka_ResourcePatternType_t)a->pattern_type : RD_KAFKA_RESOURCE_PATTERN_LITERAL,
                    principals[i], host, (rd_kafka_AclOperation_t)ops[j], perm, errstr, sizeof(errstr));
                if (!filters[k]) rc = sb_err_set(err, SB_EINVAL, "invalid ACL filter: %s", errstr);
                else k++;
            }
    }
    rd_kafka_event_t *event = NULL;
    if (rc == 0) {
        rd_kafka_AdminOptions_t *options = ctl_client_admin_options(&ctx->client, RD_KAFKA_ADMIN_OP_DELETEACLS, err);
        if (!options) rc = SB_ENOMEM;
        else {
            rd_kafka_DeleteAcls(ctx->client.rk, filters, k, options, ctx->client.results);
            rd_kafka_AdminOptions_destroy(options);
            rc = ctl_client_wait(&ctx->client, RD_KAFKA_EVENT_DELETEACLS_RESULT, "removing ACLs", &event, err);
        }
    }
    if (rc == 0) {
        size_t nresp = 0, total = 0;
        const rd_kafka_DeleteAcls_result_response_t **resp =
            rd_kafka_DeleteAcls_result_responses(rd_kafka_event_DeleteAcls_result(event), &nresp);
        const rd_kafka_AclBinding_t **all = NULL;
        for (size_t i = 0; i < nresp && rc == 0; i++) {
            const rd_kafka_error_t *e = rd_kafka_DeleteAcls_result_response_error(resp[i]);
            if (e) rc = acl_fail("removing ACLs", rd_kafka_error_code(e), rd_kafka_error_string(e), err);
            size_t m = 0;
            rd_kafka_DeleteAcls_result_response_matching_acls(resp[i], &m);
            total += m;
        }
        if (rc == 0) {
            all = calloc(total + 1, sizeof(*all));
            if (!all) rc = sb_err_set(err, SB_ENOMEM, "out of memory");
            size_t at = 0;
            for (size_t i = 0; all && i < nresp; i++) {
                size_t m = 0;
                const rd_kafka_AclBinding_t **acls = rd_kafka_DeleteAcls_result_response_matching_acls(resp[i], &m);
                for (size_t j = 0; j < m; j++) all[at++] = acls[j];
            }
            if (all) rc = print_bindings(ctx, "removed", all, total, err);
            free(all);
        }
    }
    if (event) rd_kafka_event_destroy(event);
    for (size_t i = 0; i < k; i++) rd_kafka_AclBinding_destroy(filters[i]);
    free(filters);
    return rc;
}
