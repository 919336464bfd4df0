/* Secrets from the environment, files and Vault KV v2; see secrets.h. */
#include "common/secrets.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sb_secret_free(char *secret, size_t len)
{
    if (!secret) return;
    /* volatile so the compiler cannot drop the wipe of memory about to be freed. */
    volatile char *p = secret;
    for (size_t i = 0; i < len; i++)
        p[i] = 0;
    free(secret);
}

static int dup_secret(const char *v, size_t n, char **out, size_t *len, sb_err_t *err,
                      const char *what)
{
    if (n > 0 && v[n - 1] == '\n') n--;
    if (n > 0 && v[n - 1] == '\r') n--;
    if (n == 0) return sb_err_set(err, SB_EINVAL, "%s is empty", what);
    char *s = malloc(n + 1);
    if (!s) return sb_err_set(err, SB_ENOMEM, "out of memory");
    memcpy(s, v, n);
    s[n] = 0;
    *out = s;
    if (len) *len = n;
    return 0;
}

int sb_secret_from_file(const char *path, char **out, size_t *len, sb_err_t *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) return sb_err_set(err, SB_EIO, "cannot read secret file %s: %s", path, strerror(errno));
    char *buf = malloc(SB_SECRET_MAX + 1);
    size_t n = buf ? fread(buf, 1, SB_SECRET_MAX + 1, f) : 0;
    fclose(f);
    if (!buf) return sb_err_set(err, SB_ENOMEM, "out of memory");
    char what[300];
    snprintf(what, sizeof(what), "secret file %.256s", path);
    int rc = n > SB_SECRET_MAX
                 ? sb_err_set(err, SB_EINVAL, "%s is larger than %d bytes", what, SB_SECRET_MAX)
                 : dup_secret(buf, n, out, len, err, what);
    sb_secret_free(buf, n);
    return rc;
}

int sb_secret_from_env(const char *name, char **out, size_t *len, sb_err_t *err)
{
    char file_var[160];
    snprintf(file_var, sizeof(file_var), "%s_FILE", name);
    const char *v = getenv(name), *f = getenv(file_var);
    if (v && f)
        return sb_err_set(err, SB_EINVAL, "both %s and %s are set; set one", name, file_var);
    if (v) {
        if (strlen(v) > SB_SECRET_MAX)
            return sb_err_set(err, SB_EINVAL, "%s is larger than %d bytes", name, SB_SECRET_MAX);
        return dup_secret(v, strlen(v), out, len, err, name);
    }
    if (f) {
        sb_err_t e = {0};
        int rc = sb_secret_from_file(f, out, len, &e);
        if (rc < 0) sb_err_set(err, rc, "%s: %s", file_var, e.msg);
        return rc;
    }
    return sb_err_set(err, SB_ENOENT, "neither %s nor %s is set", name, file_var);
}

typedef struct body {
    char *p;
    size_t n;
    int too_big;
} body_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    body_t *b = arg;
    size_t n = size * nmemb;
    if (b->n + n > SB_SECRET_MAX * 2) {
        b->too_big = 1;
        return 0;
    }
    char *np = realloc(b->p, b->n + n + 1);
    if (!np) return 0;
    memcpy(np + b->n, data, n);
    b->p = np;
    b->n += n;
    b->p[b->n] = 0;
    return n;
}

int sb_secret_from_vault(const sb_vault_config_t *vault, const char *ref, char **out, size_t *len,
                         sb_err_t *err)
{
    if (!vault || !vault->addr || !vault->addr[0])
        return sb_err_set(err, SB_EINVAL, "Vault reference %s but no Vault address (vault.addr)",
                          ref);
    if (!vault->token || !vault->token[0])
        return sb_err_set(err, SB_EINVAL,
                          "Vault reference %s but no Vault token (VAULT_TOKEN or VAULT_TOKEN_FILE)",
                          ref);
    const char *hash = strchr(ref, '#'), *slash = strchr(ref, '/');
    if (!hash || !slash || slash > hash || slash == ref || hash[1] == 0 || slash + 1 == hash ||
        strlen(ref) > 400)
        return sb_err_set(err, SB_EINVAL,
                          "Vault reference \"%.200s\": expected <mount>/<path>#<field>", ref);
    /* Only path-safe characters, so the reference cannot smuggle a query or another host. */
    for (const char *c = ref; c < hash; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("/_-.", *c)))
            return sb_err_set(
                err, SB_EINVAL,
                "Vault reference \"%.200s\": the path may hold only A-Z a-z 0-9 / _ - .", ref);
    char url[1024], hdr[600];
    snprintf(url, sizeof(url), "%s/v1/%.*s/data/%.*s", vault->addr, (int)(slash - ref), ref,
             (int)(hash - slash - 1), slash + 1);
    if (strlen(vault->token) > 500) return sb_err_set(err, SB_EINVAL, "Vault token too long");
    snprintf(hdr, sizeof(hdr), "X-Vault-Token: %s", vault->token);
    CURL *c = curl_easy_init();
    if (!c) return sb_err_set(err, SB_ENOMEM, "out of memory");
    body_t b = {0};
    struct curl_slist *h = curl_slist_append(NULL, hdr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, vault->timeout_ms > 0 ? vault->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    /* The header held the token: wipe it. */
    volatile char *hp = hdr;
    for (size_t i = 0; i < sizeof(hdr); i++)
        hp[i] = 0;
    curl_slist_free_all(h);
    char where[300];
    snprintf(where, sizeof(where), "Vault %.*s", (int)(hash - ref), ref);
    int rc = 0;
    if (cc != CURLE_OK)
        rc = sb_err_set(err, SB_EIO, "%s: %s", where,
                        b.too_big ? "answer too large" : curl_easy_strerror(cc));
    else if (status == 404)
        rc = sb_err_set(err, SB_ENOENT, "%s: no such secret (404)", where);
    else if (status == 403)
        rc =
            sb_err_set(err, SB_EIO, "%s: permission denied (403); check the token's policy", where);
    else if (status != 200)
        rc = sb_err_set(err, SB_EIO, "%s: HTTP status %ld", where, status);
    json_t *doc = NULL;
    if (rc == 0) {
        doc = json_loadb(b.p ? b.p : "", b.n, 0, NULL);
        json_t *v =
            json_object_get(json_object_get(json_object_get(doc, "data"), "data"), hash + 1);
        if (!doc)
            rc = sb_err_set(err, SB_EIO, "%s: the answer is not JSON", where);
        else if (!v)
            rc = sb_err_set(err, SB_ENOENT, "%s: no field \"%.64s\"", where, hash + 1);
        else if (!json_is_string(v))
            rc = sb_err_set(err, SB_EINVAL, "%s: field \"%.64s\" is not a string", where, hash + 1);
        else {
            char what[400];
            snprintf(what, sizeof(what), "%s field %.64s", where, hash + 1);
            rc = dup_secret(json_string_value(v), json_string_length(v), out, len, err, what);
        }
    }
    json_decref(doc);
    sb_secret_free(b.p, b.n);
    return rc;
}
