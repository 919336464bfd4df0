#ifndef STREAMBUS_BROKER_AUTHZ_H
#define STREAMBUS_BROKER_AUTHZ_H

/* Authorization as the handlers see it: one call per check, naming the operation and the
 * resource; the principal and address come from the request's connection. Every function
 * returns true at once when the authorizer is off (the default), so the open single-node
 * stack pays one branch per check. Network thread only. */

#include <stdbool.h>
#include <stdint.h>

#include "broker/broker.h"
#include "security/acl.h"

/* The principal of the connection the request arrived on ("User:ANONYMOUS" until SASL or a
 * client certificate names someone). */
const char *broker_request_principal(const kreq_t *req);

struct authz_subject;
/* Who the request comes from, for the authorizer and its audit lines (valid during the request). */
void broker_request_subject(const kreq_t *req, struct authz_subject *who);

/* Whether the request's principal may do `op` on (resource_type, name[0..len)). A denial is
 * counted and audited. */
bool broker_authorize(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len);
/* The same without auditing a denial: for checks that only filter what a request sees
 * (Metadata's topic list, ListGroups), as Kafka does. */
bool broker_authorize_quiet(broker_t *b, const kreq_t *req, int op, int resource_type, const char *name, int32_t len);
/* Whether some topic (or other resource type) grants op (Kafka's authorizeByResourceType). */
bool broker_authorize_any(broker_t *b, const kreq_t *req, int op, int resource_type);

static inline bool broker_authorize_topic(broker_t *b, const kreq_t *req, int op, sb_slice_t name)
{
    return broker_authorize(b, req, op, ACL_RESOURCE_TOPIC, (const char *)name.p, name.len);
}
static inline bool broker_authorize_group(broker_t *b, const kreq_t *req, int op, sb_slice_t name)
{
    return broker_authorize(b, req, op, ACL_RESOURCE_GROUP, (const char *)name.p, name.len);
}
static inline bool broker_authorize_cluster(broker_t *b, const kreq_t *req, int op)
{
    return broker_authorize(b, req, op, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME, (int32_t)sizeof(ACL_CLUSTER_NAME) - 1);
}

/* Kafka's rule for creating a topic: CREATE on the cluster, or else CREATE on the topic. */
static inline bool broker_authorize_create_topic(broker_t *b, const kreq_t *req, sb_slice_t name)
{
    return broker_authorize_quiet(b, req, ACL_OP_CREATE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME,
                                  (int32_t)sizeof(ACL_CLUSTER_NAME) - 1) ||
           broker_authorize_topic(b, req, ACL_OP_CREATE, name);
}

/* The same rule for auto-creation (Metadata, Produce): without CREATE the client just sees an
 * unknown topic, so a refusal is not audited (clients poll Metadata for missing topics). */
static inline bool broker_may_auto_create_topic(broker_t *b, const kreq_t *req, sb_slice_t name)
{
    return broker_topic_find(b, (const char *)name.p, name.len) ||
           broker_authorize_quiet(b, req, ACL_OP_CREATE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME,
                                  (int32_t)sizeof(ACL_CLUSTER_NAME) - 1) ||
           broker_authorize_quiet(b, req, ACL_OP_CREATE, ACL_RESOURCE_TOPIC, (const char *)name.p, name.len);
}

/* An idempotent producer (InitProducerId without a transactional id): IDEMPOTENT_WRITE on
 * the cluster, or WRITE on some topic (Kafka 3.0's KIP-679, which lets a producer allowed to
 * write anywhere be idempotent without a cluster-wide grant). */
static inline bool broker_authorize_idempotent_write(broker_t *b, const kreq_t *req)
{
    return broker_authorize_quiet(b, req, ACL_OP_IDEMPOTENT_WRITE, ACL_RESOURCE_CLUSTER, ACL_CLUSTER_NAME,
                                  (int32_t)sizeof(ACL_CLUSTER_NAME) - 1) ||
           broker_authorize_any(b, req, ACL_OP_WRITE, ACL_RESOURCE_TOPIC) ||
           broker_authorize_cluster(b, req, ACL_OP_IDEMPOTENT_WRITE); /* fails again, counted and audited */
}

/* The configs APIs name resources by ConfigResource type (2 topic, 4 broker): op on the
 * topic, or on the cluster for a broker. Returns 0 or the authorization error to answer. */
static inline int16_t broker_authorize_config_resource(broker_t *b, const kreq_t *req, int op, int8_t type,
                                                       sb_slice_t name)
{
    if (type == 2) return broker_authorize_topic(b, req, op, name) ? 0 : 29;   /* TOPIC_AUTHORIZATION_FAILED */
    if (type == 4) return broker_authorize_cluster(b, req, op) ? 0 : 31;        /* CLUSTER_AUTHORIZATION_FAILED */
    return 0;
}

/* Creates b->authz from the options (loading data_dir/.acls when enabled); frees it. */
int broker_authz_init(broker_t *b, sb_err_t *err);
void broker_authz_free(broker_t *b);

#endif
