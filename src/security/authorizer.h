#ifndef STREAMBUS_SECURITY_AUTHORIZER_H
#define STREAMBUS_SECURITY_AUTHORIZER_H

/* The authorizer: Kafka's AclAuthorizer on top of an acl_store_t. It adds what the store
 * leaves to its caller — whether authorization is on at all, super users, what happens to a
 * resource no ACL names (allow.everyone.if.no.acl.found), the audit log of decisions and a
 * count of denials — and keeps the ACLs in a storage backend, so that a cluster can later
 * move them into its quorum without touching the handlers.
 *
 * Thread: the broker's network thread only (the store is not locked). The denial counter
 * is atomic and may be read from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "security/acl.h"

/* Where ACLs live. The single-node broker uses a file (acl_storage_file); a cluster would
 * submit `save` to its quorum and call authorizer_replace_acls on every node when the change
 * commits. */
typedef struct acl_storage {
    /* Adds the stored ACLs to `into`; no stored ACLs is not an error. */
    int (*load)(void *ctx, acl_store_t *into, sb_err_t *err);
    /* Makes `acls` the stored set, durably, before it takes effect. */
    int (*save)(void *ctx, const acl_store_t *acls, sb_err_t *err);
    void (*free)(void *ctx);
    void *ctx;
} acl_storage_t;

/* A storage that rewrites `path` atomically (src/common/atomic_file.h) on every change. */
int acl_storage_file(const char *path, acl_storage_t *out, sb_err_t *err);

typedef struct authorizer_config {
    bool enabled; /* off: every request is allowed and the ACL APIs answer SECURITY_DISABLED */
    bool allow_everyone_if_no_acl_found;
    const char *super_users; /* Kafka's super.users: "User:admin;User:ops"; NULL or "" = none */
    const char *audit_log;   /* file that audit lines are appended to; NULL or "": the broker log */
    bool audit_allowed;      /* also audit allowed decisions (verbose; denials always are) */
} authorizer_config_t;

typedef struct authorizer authorizer_t;

/* Who is asking, for the decision (principal, host) and the audit line (address, api). */
typedef struct authz_subject {
    const char *principal; /* "User:alice" */
    const char *host;      /* the client's IP, as ACL hosts name it */
    const char *address;   /* "ip:port", audit only */
    const char *api;       /* the Kafka API being served, audit only */
} authz_subject_t;

/* Creates the authorizer and, when enabled, loads the ACLs from storage. Takes ownership of
 * storage (freed on failure too). A super user that is not "Type:name" fails with SB_EINVAL
 * naming it. */
int authorizer_new(const authorizer_config_t *cfg, acl_storage_t *storage, authorizer_t **out, sb_err_t *err);
void authorizer_free(authorizer_t *a);

bool authorizer_enabled(const authorizer_t *a);
bool authorizer_is_super_user(const authorizer_t *a, const char *principal);

/* Kafka's decision for one operation on one resource. `audit_denial` false is for checks
 * that only filter what a request sees (Metadata topics, ListGroups), which Kafka does not
 * log as denials either. Always true when the authorizer is disabled. */
bool authorizer_authorize(authorizer_t *a, const authz_subject_t *who, int op, int resource_type, const char *name,
                          size_t name_len, bool audit_denial);
/* Whether some resource of the type allows op to the subject (see acl_store_allows_any). */
bool authorizer_authorize_any(authorizer_t *a, const authz_subject_t *who, int op, int resource_type);

/* The current ACLs (borrowed; valid until the next replace). */
const acl_store_t *authorizer_acls(const authorizer_t *a);
/* Saves `next` to storage, then makes it the current set. Takes ownership of next on success
 * only; on failure the current set is unchanged. */
int authorizer_replace_acls(authorizer_t *a, acl_store_t *next, sb_err_t *err);

/* Writes one audit line for an ACL change ("CreateAcls"/"DeleteAcls") made by who. */
void authorizer_audit_change(authorizer_t *a, const authz_subject_t *who, const char *action, const acl_binding_t *b);

uint64_t authorizer_denials(const authorizer_t *a);

#endif
