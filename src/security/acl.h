#ifndef STREAMBUS_SECURITY_ACL_H
#define STREAMBUS_SECURITY_ACL_H

/* Kafka's ACL model: a binding says that a principal ("User:alice", or "User:*" for every
 * user) connecting from a host (an IP, or "*") is ALLOWed or DENYed an operation on the
 * resources a pattern names (a literal name, "*" for every resource of the type, or a name
 * prefix). The numeric values of every enum are the ones Kafka puts on the wire
 * (CreateAcls, DescribeAcls, DeleteAcls), so requests and the store share them.
 *
 * An acl_store_t holds bindings indexed for the authorization path: one hash lookup for
 * the literal name, one for the "*" wildcard, and one per distinct prefix length for
 * PREFIXED patterns, so a check costs the same with ten or ten thousand bindings that do
 * not name the resource. The store is not thread-safe; the broker uses it from its network
 * thread only. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef enum {
    ACL_RESOURCE_UNKNOWN = 0,
    ACL_RESOURCE_ANY = 1, /* filters only */
    ACL_RESOURCE_TOPIC = 2,
    ACL_RESOURCE_GROUP = 3,
    ACL_RESOURCE_CLUSTER = 4,
    ACL_RESOURCE_TRANSACTIONAL_ID = 5,
    ACL_RESOURCE_DELEGATION_TOKEN = 6,
    ACL_RESOURCE_USER = 7,
} acl_resource_type_t;

typedef enum {
    ACL_PATTERN_UNKNOWN = 0,
    ACL_PATTERN_ANY = 1,   /* filters only: LITERAL or PREFIXED bindings with exactly this name */
    ACL_PATTERN_MATCH = 2, /* filters only: every binding that would apply to this resource name */
    ACL_PATTERN_LITERAL = 3,
    ACL_PATTERN_PREFIXED = 4,
} acl_pattern_type_t;

typedef enum {
    ACL_OP_UNKNOWN = 0,
    ACL_OP_ANY = 1, /* filters only */
    ACL_OP_ALL = 2,
    ACL_OP_READ = 3,
    ACL_OP_WRITE = 4,
    ACL_OP_CREATE = 5,
    ACL_OP_DELETE = 6,
    ACL_OP_ALTER = 7,
    ACL_OP_DESCRIBE = 8,
    ACL_OP_CLUSTER_ACTION = 9,
    ACL_OP_DESCRIBE_CONFIGS = 10,
    ACL_OP_ALTER_CONFIGS = 11,
    ACL_OP_IDEMPOTENT_WRITE = 12,
} acl_operation_t;

typedef enum {
    ACL_PERM_UNKNOWN = 0,
    ACL_PERM_ANY = 1, /* filters only */
    ACL_PERM_DENY = 2,
    ACL_PERM_ALLOW = 3,
} acl_permission_t;

/* The only cluster resource name Kafka uses. */
#define ACL_CLUSTER_NAME "kafka-cluster"
#define ACL_WILDCARD "*"
#define ACL_WILDCARD_PRINCIPAL "User:*"

/* One binding. The strings are borrowed when passed in and owned by the store inside it. */
typedef struct acl_binding {
    int8_t resource_type;
    int8_t pattern_type;
    int8_t operation;
    int8_t permission;
    const char *resource_name;
    const char *principal;
    const char *host;
} acl_binding_t;

/* What DescribeAcls and DeleteAcls select by. NULL strings match anything; the enums take
 * their ANY values to match anything. */
typedef struct acl_filter {
    int8_t resource_type;
    int8_t pattern_type;
    int8_t operation;
    int8_t permission;
    const char *resource_name;
    const char *principal;
    const char *host;
} acl_filter_t;

typedef struct acl_store acl_store_t;

/* Names as Kafka spells them ("TOPIC", "PREFIXED", "DESCRIBE_CONFIGS", "ALLOW"); "UNKNOWN"
 * for values outside the enum. */
const char *acl_resource_type_name(int v);
const char *acl_pattern_type_name(int v);
const char *acl_operation_name(int v);
const char *acl_permission_name(int v);
/* Case-insensitive parse of those names (underscores or dashes); -1 when unknown. */
int acl_resource_type_parse(const char *s);
int acl_pattern_type_parse(const char *s);
int acl_operation_parse(const char *s);
int acl_permission_parse(const char *s);

/* Checks that a binding can be stored: a concrete resource type, LITERAL or PREFIXED,
 * a concrete operation and permission, a principal of the form "Type:name", a non-empty
 * host and resource name, and "kafka-cluster" for CLUSTER. SB_EINVAL with the reason. */
int acl_binding_validate(const acl_binding_t *b, sb_err_t *err);
/* Checks that a filter's enums are known values (UNKNOWN is refused, as Kafka does). */
int acl_filter_validate(const acl_filter_t *f, sb_err_t *err);
/* True when the binding is selected by the filter (Kafka's AclBindingFilter.matches). */
bool acl_filter_matches(const acl_filter_t *f, const acl_binding_t *b);

int acl_store_new(acl_store_t **out);
void acl_store_free(acl_store_t *s);
/* A deep copy (for changes that must be persisted before they take effect). */
int acl_store_clone(const acl_store_t *s, acl_store_t **out);
size_t acl_store_count(const acl_store_t *s);

/* Adds a validated binding (strings copied). Adding one that is already there is a no-op
 * and returns 0, as Kafka's CreateAcls does. */
int acl_store_add(acl_store_t *s, const acl_binding_t *b, sb_err_t *err);
/* Calls cb for every binding the filter selects (the binding is valid during the call). */
void acl_store_foreach(const acl_store_t *s, const acl_filter_t *f, void (*cb)(void *arg, const acl_binding_t *b),
                       void *arg);
/* Removes every binding the filter selects, calling cb (may be NULL) for each before it goes.
 * Returns the number removed. */
size_t acl_store_remove(acl_store_t *s, const acl_filter_t *f, void (*cb)(void *arg, const acl_binding_t *b),
                        void *arg);

/* What the store says about one request. */
typedef enum {
    ACL_RESULT_ALLOWED = 0,
    ACL_RESULT_DENIED = 1,       /* a DENY binding matched, or bindings exist and none allows */
    ACL_RESULT_NO_BINDINGS = 2,  /* no binding names the resource at all */
} acl_result_t;

/* Kafka's decision for (principal, host) doing `op` on resource (type, name[0..len)):
 * bindings that apply are the literal name, the literal "*" and every prefix of the name.
 * A DENY that matches the principal ("User:*" matches any), host ("*" matches any) and the
 * operation (or ALL) wins. Otherwise an ALLOW for the operation, ALL, or an operation that
 * implies it (READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies
 * DESCRIBE_CONFIGS) allows. Super users and allow.everyone.if.no.acl.found are the
 * caller's business (see authorizer.h). */
acl_result_t acl_store_check(const acl_store_t *s, const char *principal, const char *host, int op, int resource_type,
                             const char *name, size_t name_len);

/* True when some ALLOW binding for `op` on any resource of the type could apply to the
 * principal and no DENY for every resource of the type does (Kafka's authorizeByResourceType,
 * used where a request needs "the right on some topic"). */
bool acl_store_allows_any(const acl_store_t *s, const char *principal, const char *host, int op, int resource_type);

/* ---- persistence ----
 * A text form, one binding a line: type pattern name principal host operation permission,
 * separated by spaces, each field percent-encoded (bytes outside printable ASCII, '%' and
 * ' '). Lines starting with '#' are comments. */

/* Writes every binding (sorted, so the same set always gives the same bytes) into a
 * malloc'ed buffer. */
int acl_store_serialize(const acl_store_t *s, char **out, size_t *out_len);
/* Adds every binding of the text to s. A bad line fails with SB_EINVAL naming
 * `source`:line and what was wrong. */
int acl_store_parse(acl_store_t *s, const char *source, const void *data, size_t len, sb_err_t *err);

#endif
