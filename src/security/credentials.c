/* SCRAM credential store: the generic wrapper and the file backend. */
#include "security/credentials.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/atomic_file.h"
#include "common/base64.h"

#define CRED_FILE_NAME "scram-credentials.json"
/* Bounds the file we read back: thousands of users fit in far less. */
#define CRED_FILE_MAX_BYTES (16 * 1024 * 1024)

struct cred_store {
    const cred_store_ops_t *ops;
    void *impl;
};

cred_store_t *cred_store_new(const cred_store_ops_t *ops, void *impl)
{
    cred_store_t *s = calloc(1, sizeof(*s));
    if (!s) {
        ops->free(impl);
        return NULL;
    }
    s->ops = ops;
    s->impl = impl;
    return s;
}

void cred_store_free(cred_store_t *s)
{
    if (!s) return;
    s->ops->free(s->impl);
    free(s);
}

bool cred_user_name_valid(const char *user, size_t len)
{
    if (len == 0 || len > SCRAM_MAX_USER) return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)user[i] < 0x20 || user[i] == 0x7f) return false;
    return true;
}

int cred_store_get(cred_store_t *s, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    return s->ops->get(s->impl, user, m, out);
}

int cred_store_put(cred_store_t *s, const char *user, const scram_credential_t *c, sb_err_t *err)
{
    if (!cred_user_name_valid(user, strlen(user)))
        return sb_err_set(err, SB_EINVAL, "invalid user name (1..%d bytes, no control characters)", SCRAM_MAX_USER);
    if (c->iterations < SCRAM_MIN_ITERATIONS || c->iterations > SCRAM_MAX_ITERATIONS)
        return sb_err_set(err, SB_EINVAL, "iterations %d outside %d..%d", (int)c->iterations, SCRAM_MIN_ITERATIONS,
                          SCRAM_MAX_ITERATIONS);
    if (c->salt_len == 0 || c->salt_len > SCRAM_MAX_SALT)
        return sb_err_set(err, SB_EINVAL, "salt must be 1..%d bytes", SCRAM_MAX_SALT);
    return s->ops->put(s->impl, user, c, err);
}

int cred_store_remove(cred_store_t *s, const char *user, scram_mechanism_t m, sb_err_t *err)
{
    return s->ops->remove(s->impl, user, m, err);
}

int cred_store_list(cred_store_t *s, cred_list_cb cb, void *arg)
{
    return s->ops->list(s->impl, cb, arg);
}

int cred_store_scram_lookup(void *arg, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    return cred_store_get(arg, user, m, out);
}

/* ---- file backend: a sorted array in memory, the whole file rewritten on each change ---- */

typedef struct cred_entry {
    char *user;
    scram_credential_t cred;
} cred_entry_t;

typedef struct cred_file {
    char path[PATH_MAX];
    cred_entry_t *v;
    size_t n, cap;
} cred_file_t;

static int entry_cmp(const char *user, scram_mechanism_t m, const cred_entry_t *e)
{
    int c = strcmp(user, e->user);
    if (c) return c;
    return (int)m - (int)e->cred.mechanism;
}

/* Index of (user, m) or, when absent, where it would go (with *found false). */
static size_t cf_find(const cred_file_t *f, const char *user, scram_mechanism_t m, bool *found)
{
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = entry_cmp(user, m, &f->v[mid]);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    *found = false;
    return lo;
}

static int b64_field(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
    char buf[SB_BASE64_ENCODED_CAP(SCRAM_MAX_HASH)];
    if (sb_base64_encode(p, n, buf, sizeof(buf)) < 0) return SB_EINVAL;
    return json_object_set_new(obj, key, json_string(buf)) == 0 ? 0 : SB_ENOMEM;
}

static int cf_save(cred_file_t *f, sb_err_t *err)
{
    json_t *root = json_object(), *users = json_array();
    if (!root || !users) {
        json_decref(root);
        json_decref(users);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    json_object_set_new(root, "version", json_integer(1));
    json_object_set_new(root, "credentials", users);
    int rc = 0;
    for (size_t i = 0; i < f->n && rc == 0; i++) {
        const scram_credential_t *c = &f->v[i].cred;
        size_t hl = scram_hash_len(c->mechanism);
        json_t *e = json_object();
        if (!e) {
            rc = SB_ENOMEM;
            break;
        }
        json_object_set_new(e, "user", json_string(f->v[i].user));
        json_object_set_new(e, "mechanism", json_string(scram_mechanism_name(c->mechanism)));
        json_object_set_new(e, "iterations", json_integer(c->iterations));
        rc = b64_field(e, "salt", c->salt, c->salt_len);
        if (rc == 0) rc = b64_field(e, "stored_key", c->stored_key, hl);
        if (rc == 0) rc = b64_field(e, "server_key", c->server_key, hl);
        json_array_append_new(users, e);
    }
    char *text = rc == 0 ? json_dumps(root, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text) return sb_err_set(err, SB_ENOMEM, "out of memory");
    rc = sb_write_file_atomic_private(f->path, text, strlen(text), err);
    free(text);
    return rc;
}

static int b64_get(json_t *e, const char *key, uint8_t *out, size_t cap, size_t want, size_t *got)
{
    const char *s = json_string_value(json_object_get(e, key));
    if (!s) return SB_EINVAL;
    int n = sb_base64_decode(s, strlen(s), out, cap);
    if (n <= 0 || (want && (size_t)n != want)) return SB_EINVAL;
    if (got) *got = (size_t)n;
    return 0;
}

static int cf_insert(cred_file_t *f, const char *user, const scram_credential_t *c, bool *replaced)
{
    bool found;
    size_t at = cf_find(f, user, c->mechanism, &found);
    *replaced = found;
    if (found) {
        f->v[at].cred = *c;
        return 0;
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        cred_entry_t *v = realloc(f->v, cap * sizeof(*v));
        if (!v) return SB_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    char *u = strdup(user);
    if (!u) return SB_ENOMEM;
    memmove(&f->v[at + 1], &f->v[at], (f->n - at) * sizeof(*f->v));
    f->v[at].user = u;
    f->v[at].cred = *c;
    f->n++;
    return 0;
}

static void cf_erase(cred_file_t *f, size_t at)
{
    free(f->v[at].user);
    memmove(&f->v[at], &f->v[at + 1], (f->n - at - 1) * sizeof(*f->v));
    f->n--;
}

static int cf_load(cred_file_t *f, sb_err_t *err)
{
    FILE *fp = fopen(f->path, "rb");
    if (!fp) {
        if (errno == ENOENT) return 0;
        return sb_err_set(err, SB_EIO, "cannot read %s: %s", f->path, strerror(errno));
    }
    json_error_t je;
    json_t *root = json_loadf(fp, 0, &je);
    long size = ftell(fp);
    fclose(fp);
    if (!root) return sb_err_set(err, SB_ECORRUPT, "%s: line %d: %s", f->path, je.line, je.text);
    if (size > CRED_FILE_MAX_BYTES) {
        json_decref(root);
        return sb_err_set(err, SB_ECORRUPT, "%s: larger than %d bytes", f->path, CRED_FILE_MAX_BYTES);
    }
    json_t *arr = json_object_get(root, "credentials");
    if (json_integer_value(json_object_get(root, "version")) != 1 || !json_is_array(arr)) {
        json_decref(root);
        return sb_err_set(err, SB_ECORRUPT, "%s: not a version 1 credential file", f->path);
    }
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(arr, i, e)
    {
        scram_credential_t c = {0};
        const char *user = json_string_value(json_object_get(e, "user"));
        const char *mech = json_string_value(json_object_get(e, "mechanism"));
        json_int_t iter = json_integer_value(json_object_get(e, "iterations"));
        bool dup = false;
        if (!user || !cred_user_name_valid(user, strlen(user)) || !mech ||
            scram_mechanism_parse(mech, strlen(mech), &c.mechanism) != 0 || iter < 1 || iter > INT32_MAX) {
            rc = SB_ECORRUPT;
        } else {
            c.iterations = (int32_t)iter;
            size_t hl = scram_hash_len(c.mechanism);
            if (b64_get(e, "salt", c.salt, sizeof(c.salt), 0, &c.salt_len) != 0 ||
                b64_get(e, "stored_key", c.stored_key, sizeof(c.stored_key), hl, NULL) != 0 ||
                b64_get(e, "server_key", c.server_key, sizeof(c.server_key), hl, NULL) != 0)
                rc = SB_ECORRUPT;
            else if (cf_insert(f, user, &c, &dup) != 0)
                rc = SB_ENOMEM;
        }
        if (rc == 0 && dup) rc = SB_ECORRUPT;
        if (rc != 0) {
            json_decref(root);
            if (rc == SB_ENOMEM) return sb_err_set(err, rc, "out of memory");
            return sb_err_set(err, rc, "%s: credential entry %zu is malformed or duplicated", f->path, i);
        }
    }
    json_decref(root);
    return 0;
}

static int cf_get(void *impl, const char *user, scram_mechanism_t m, scram_credential_t *out)
{
    cred_file_t *f = impl;
    bool found;
    size_t at = cf_find(f, user, m, &found);
    if (!found) return SB_ENOENT;
    *out = f->v[at].cred;
    return 0;
}

static int cf_put(void *impl, const char *user, const scram_credential_t *c, sb_err_t *err)
{
    cred_file_t *f = impl;
    bool found;
    size_t at = cf_find(f, user, c->mechanism, &found);
    scram_credential_t old;
    if (found) old = f->v[at].cred;
    bool replaced;
    if (cf_insert(f, user, c, &replaced) != 0) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int rc = cf_save(f, err);
    if (rc != 0) {
        /* Keep memory equal to what is on disk. */
        at = cf_find(f, user, c->mechanism, &found);
        if (replaced) f->v[at].cred = old;
        else cf_erase(f, at);
    }
    return rc;
}

static int cf_remove(void *impl, const char *user, scram_mechanism_t m, sb_err_t *err)
{
    cred_file_t *f = impl;
    bool found;
    size_t at = cf_find(f, user, m, &found);
    if (!found) return sb_err_set(err, SB_ENOENT, "no %s credential for that user", scram_mechanism_name(m));
    cred_entry_t saved = {strdup(f->v[at].user), f->v[at].cred};
    if (!saved.user) return sb_err_set(err, SB_ENOMEM, "out of memory");
    cf_erase(f, at);
    int rc = cf_save(f, err);
    bool dup;
    if (rc != 0 && cf_insert(f, saved.user, &saved.cred, &dup) != 0) rc = SB_ENOMEM;
    free(saved.user);
    return rc;
}

static int cf_list(void *impl, cred_list_cb cb, void *arg)
{
    cred_file_t *f = impl;
    for (size_t i = 0; i < f->n; i++) {
        int rc = cb(arg, f->v[i].user, &f->v[i].cred);
        if (rc) return rc;
    }
    return 0;
}

static void cf_free(void *impl)
{
    cred_file_t *f = impl;
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) free(f->v[i].user);
    free(f->v);
    free(f);
}

static const cred_store_ops_t cred_file_ops = {cf_get, cf_put, cf_remove, cf_list, cf_free};

int cred_store_open_file(const char *dir, cred_store_t **out, sb_err_t *err)
{
    *out = NULL;
    int rc = sb_mkdir_durable(dir, err);
    if (rc) return rc;
    /* StoredKey and ServerKey are not passwords, but ServerKey lets its holder pose as the
     * broker to clients: only the broker's user may read them. */
    if (chmod(dir, 0700) != 0) return sb_err_set(err, SB_EIO, "chmod %s: %s", dir, strerror(errno));
    cred_file_t *f = calloc(1, sizeof(*f));
    if (!f) return sb_err_set(err, SB_ENOMEM, "out of memory");
    if (snprintf(f->path, sizeof(f->path), "%s/%s", dir, CRED_FILE_NAME) >= (int)sizeof(f->path)) {
        free(f);
        return sb_err_set(err, SB_EINVAL, "path too long: %s", dir);
    }
    rc = cf_load(f, err);
    if (rc) {
        cf_free(f);
        return rc;
    }
    *out = cred_store_new(&cred_file_ops, f);
    return *out ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
}
