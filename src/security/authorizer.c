/* Kafka's AclAuthorizer semantics over acl_store_t, super users, the audit log and the
 * file storage of ACLs (see authorizer.h). */
#include "security/authorizer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic_file.h"
#include "common/buf.h"
#include "common/log.h"

/* The ACL file is written by us and small (tens of bytes a binding); the cap stops a wrong
 * file from being read whole. */
#define ACL_FILE_MAX_BYTES (64 * 1024 * 1024)

struct authorizer {
    bool enabled;
    bool allow_if_no_acl;
    bool audit_allowed;
    char **super_users;
    size_t nsuper;
    int audit_fd; /* -1: audit lines go to the broker log */
    acl_store_t *acls;
    acl_storage_t storage;
    _Atomic uint64_t denials;
};

/* ---- file storage ---- */

typedef struct file_storage {
    char *path;
} file_storage_t;

static int file_load(void *ctx, acl_store_t *into, sb_err_t *err)
{
    file_storage_t *fs = ctx;
    int fd = open(fs->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return 0;
        return sb_err_set(err, SB_EIO, "open %s: %s", fs->path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > ACL_FILE_MAX_BYTES) {
        close(fd);
        return sb_err_set(err, SB_EIO, "%s: unreadable or larger than %d bytes", fs->path, ACL_FILE_MAX_BYTES);
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *buf = malloc(len + 1);
    if (!buf) {
        close(fd);
        return sb_err_set(err, SB_ENOMEM, "out of memory reading %s", fs->path);
    }
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    int rc = acl_store_parse(into, fs->path, buf, got, err);
    free(buf);
    return rc;
}

static int file_save(void *ctx, const acl_store_t *acls, sb_err_t *err)
{
    file_storage_t *fs = ctx;
    char *text;
    size_t len;
    if (acl_store_serialize(acls, &text, &len) < 0) return sb_err_set(err, SB_ENOMEM, "out of memory writing ACLs");
    int rc = sb_write_file_atomic(fs->path, text, len, err);
    free(text);
    return rc;
}

static void file_free(void *ctx)
{
    file_storage_t *fs = ctx;
    if (!fs) return;
    free(fs->path);
    free(fs);
}

int acl_storage_file(const char *path, acl_storage_t *out, sb_err_t *err)
{
    file_storage_t *fs = calloc(1, sizeof(*fs));
    if (!fs || !(fs->path = strdup(path))) {
        free(fs);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    out->load = file_load;
    out->save = file_save;
    out->free = file_free;
    out->ctx = fs;
    return 0;
}

/* ---- lifecycle ---- */

/* Splits Kafka's "User:a;User:b" (spaces around names ignored). */
static int parse_super_users(authorizer_t *a, const char *list, sb_err_t *err)
{
    if (!list) return 0;
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ';') p++;
        if (!*p) break;
        const char *e = strchr(p, ';');
        if (!e) e = p + strlen(p);
        const char *t = e;
        while (t > p && t[-1] == ' ') t--;
        char *name = strndup(p, (size_t)(t - p));
        if (!name) return sb_err_set(err, SB_ENOMEM, "out of memory");
        const char *colon = strchr(name, ':');
        if (!colon || colon == name || !colon[1]) {
            sb_err_set(err, SB_EINVAL, "super user \"%s\" is not of the form Type:name (e.g. User:admin)", name);
            free(name);
            return SB_EINVAL;
        }
        char **ns = realloc(a->super_users, (a->nsuper + 1) * sizeof(*ns));
        if (!ns) {
            free(name);
            return sb_err_set(err, SB_ENOMEM, "out of memory");
        }
        a->super_users = ns;
        a->super_users[a->nsuper++] = name;
        p = e;
    }
    return 0;
}

int authorizer_new(const authorizer_config_t *cfg, acl_storage_t *storage, authorizer_t **out, sb_err_t *err)
{
    int rc;
    authorizer_t *a = calloc(1, sizeof(*a));
    if (!a) {
        if (storage && storage->free) storage->free(storage->ctx);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    a->audit_fd = -1;
    if (storage) a->storage = *storage;
    a->enabled = cfg->enabled;
    a->allow_if_no_acl = cfg->allow_everyone_if_no_acl_found;
    a->audit_allowed = cfg->audit_allowed;
    if ((rc = parse_super_users(a, cfg->super_users, err)) < 0) goto fail;
    if ((rc = acl_store_new(&a->acls)) < 0) {
        sb_err_set(err, rc, "out of memory");
        goto fail;
    }
    if (a->enabled && a->storage.load && (rc = a->storage.load(a->storage.ctx, a->acls, err)) < 0) goto fail;
    if (a->enabled && cfg->audit_log && *cfg->audit_log) {
        a->audit_fd = open(cfg->audit_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (a->audit_fd < 0) {
            rc = sb_err_set(err, SB_EIO, "open audit log %s: %s", cfg->audit_log, strerror(errno));
            goto fail;
        }
    }
    *out = a;
    return 0;
fail:
    authorizer_free(a);
    return rc;
}

void authorizer_free(authorizer_t *a)
{
    if (!a) return;
    for (size_t i = 0; i < a->nsuper; i++) free(a->super_users[i]);
    free(a->super_users);
    if (a->audit_fd >= 0) close(a->audit_fd);
    acl_store_free(a->acls);
    if (a->storage.free) a->storage.free(a->storage.ctx);
    free(a);
}

bool authorizer_enabled(const authorizer_t *a)
{
    return a && a->enabled;
}

bool authorizer_is_super_user(const authorizer_t *a, const char *principal)
{
    for (size_t i = 0; i < a->nsuper; i++)
        if (strcmp(a->super_users[i], principal) == 0) return true;
    return false;
}

uint64_t authorizer_denials(const authorizer_t *a)
{
    return a ? atomic_load(&a->denials) : 0;
}

const acl_store_t *authorizer_acls(const authorizer_t *a)
{
    return a->acls;
}

int authorizer_replace_acls(authorizer_t *a, acl_store_t *next, sb_err_t *err)
{
    if (a->storage.save) {
        int rc = a->storage.save(a->storage.ctx, next, err);
        if (rc < 0) return rc;
    }
    acl_store_free(a->acls);
    a->acls = next;
    return 0;
}

/* ---- audit ---- */

static void json_str(sb_wr_t *w, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    sb_wr_bytes(w, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            sb_wr_bytes(w, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            sb_wr_bytes(w, e, 6);
        } else {
            sb_wr_bytes(w, &c, 1);
        }
    }
    sb_wr_bytes(w, "\"", 1);
}

static void json_field(sb_wr_t *w, const char *key, const char *val, size_t len)
{
    sb_wr_bytes(w, ",\"", 2);
    sb_wr_bytes(w, key, strlen(key));
    sb_wr_bytes(w, "\":", 2);
    json_str(w, val ? val : "", val ? len : 0);
}

/* One JSON line per decision: who (principal, address), what (api, operation, resource
 * type, name, pattern) and the result. Nothing a client sent besides those names appears,
 * so no credential can leak into it. */
static void audit(authorizer_t *a, const authz_subject_t *who, const char *action, const char *op, int rtype,
                  const char *name, size_t name_len, const char *pattern, const char *result)
{
    sb_wr_t w;
    sb_wr_init(&w, 256);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[64];
    snprintf(t, sizeof(t), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
    sb_wr_bytes(&w, "{\"ts\":", 6);
    json_str(&w, t, strlen(t));
    json_field(&w, "principal", who->principal, who->principal ? strlen(who->principal) : 0);
    json_field(&w, "address", who->address, who->address ? strlen(who->address) : 0);
    json_field(&w, "api", who->api, who->api ? strlen(who->api) : 0);
    if (action) json_field(&w, "action", action, strlen(action));
    json_field(&w, "operation", op, strlen(op));
    const char *rt = acl_resource_type_name(rtype);
    json_field(&w, "resource_type", rt, strlen(rt));
    json_field(&w, "resource", name, name_len);
    if (pattern) json_field(&w, "pattern", pattern, strlen(pattern));
    json_field(&w, "result", result, strlen(result));
    sb_wr_bytes(&w, "}\n", 2);
    if (!w.oom) {
        if (a->audit_fd >= 0) {
            /* One write per line with O_APPEND keeps lines whole; a failed audit write is
             * reported in the broker log and does not fail the request. */
            ssize_t n = write(a->audit_fd, w.buf, w.len);
            if (n != (ssize_t)w.len) sb_warn("audit", "audit log write failed: %s", n < 0 ? strerror(errno) : "short");
        } else {
            sb_info("audit", "%.*s", (int)(w.len - 1), (const char *)w.buf);
        }
    }
    sb_wr_deinit(&w);
}

void authorizer_audit_change(authorizer_t *a, const authz_subject_t *who, const char *action, const acl_binding_t *b)
{
    char op[96];
    snprintf(op, sizeof(op), "%s %s %s@%s", acl_permission_name(b->permission), acl_operation_name(b->operation),
             b->principal, b->host);
    audit(a, who, action, op, b->resource_type, b->resource_name, strlen(b->resource_name),
          acl_pattern_type_name(b->pattern_type), "OK");
}

bool authorizer_authorize(authorizer_t *a, const authz_subject_t *who, int op, int resource_type, const char *name,
                          size_t name_len, bool audit_denial)
{
    if (!a || !a->enabled) return true;
    bool ok;
    if (authorizer_is_super_user(a, who->principal)) {
        ok = true;
    } else {
        acl_result_t r = acl_store_check(a->acls, who->principal, who->host, op, resource_type, name, name_len);
        ok = r == ACL_RESULT_ALLOWED || (r == ACL_RESULT_NO_BINDINGS && a->allow_if_no_acl);
    }
    if (!ok) {
        atomic_fetch_add(&a->denials, 1);
        if (audit_denial)
            audit(a, who, NULL, acl_operation_name(op), resource_type, name, name_len, NULL, "DENIED");
    } else if (a->audit_allowed) {
        audit(a, who, NULL, acl_operation_name(op), resource_type, name, name_len, NULL, "ALLOWED");
    }
    return ok;
}

bool authorizer_authorize_any(authorizer_t *a, const authz_subject_t *who, int op, int resource_type)
{
    if (!a || !a->enabled) return true;
    if (authorizer_is_super_user(a, who->principal)) return true;
    return acl_store_allows_any(a->acls, who->principal, who->host, op, resource_type);
}
