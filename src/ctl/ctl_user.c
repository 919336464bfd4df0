/* `streambus ctl user add|passwd|remove|list`: SCRAM credentials through Kafka's
 * DescribeUserScramCredentials (key 50) and AlterUserScramCredentials (key 51).
 *
 * librdkafka 2.0.2 has no admin call for these APIs (they arrived in 2.2), so this file speaks
 * them over a plain socket of its own: one connection to the first bootstrap address, SASL
 * first when -X security.protocol=SASL_PLAINTEXT says so (SCRAM-SHA-256/512 or PLAIN from
 * -X sasl.mechanism/sasl.username/sasl.password, as librdkafka would take them). The password
 * of the user being changed is read from --password-file or standard input, never from the
 * command line (where `ps` shows it), and is salted and hashed here: only the salted form
 * travels, as Kafka's own tools do. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl_int.h"
#include "ctl/ctl_table.h"
#include "kafka/protocol.h"
#include "security/scram.h"

#define USER_MAX_RESPONSE (16 * 1024 * 1024)

typedef struct raw_conn {
    int fd;
    int32_t corr;
    int timeout_ms;
    const char *addr;
} raw_conn_t;

static const char *client_prop(const ctl_args_t *args, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < args->client_config.count; i++)
        if (strcmp(args->client_config.items[i].key, key) == 0) v = args->client_config.items[i].value;
    return v;
}

static int io_full(raw_conn_t *rc, void *buf, size_t n, bool writing, sb_err_t *err)
{
    uint8_t *p = buf;
    while (n > 0) {
        struct pollfd pfd = {.fd = rc->fd, .events = writing ? POLLOUT : POLLIN};
        int pr = poll(&pfd, 1, rc->timeout_ms);
        if (pr == 0) return sb_err_set(err, SB_EIO, "%s: timed out after %d ms", rc->addr, rc->timeout_ms);
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return sb_err_set(err, SB_EIO, "%s: poll: %s", rc->addr, strerror(errno));
        ssize_t k = writing ? send(rc->fd, p, n, MSG_NOSIGNAL) : recv(rc->fd, p, n, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k == 0) return sb_err_set(err, SB_EIO, "%s: the broker closed the connection", rc->addr);
        if (k < 0) return sb_err_set(err, SB_EIO, "%s: %s", rc->addr, strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int raw_connect(raw_conn_t *rc, const char *bootstrap, int timeout_ms, sb_err_t *err)
{
    static char addr[300];
    size_t n = strcspn(bootstrap, ",");
    if (n >= sizeof(addr)) return sb_err_set(err, SB_EINVAL, "bootstrap address too long");
    memcpy(addr, bootstrap, n);
    addr[n] = 0;
    char host[256];
    char *colon = strrchr(addr, ':');
    if (!colon || colon == addr) return sb_err_set(err, SB_EINVAL, "bootstrap address \"%s\" is not host:port", addr);
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int gai = getaddrinfo(host, colon + 1, &hints, &res);
    if (gai) return sb_err_set(err, SB_EIO, "%s: %s", addr, gai_strerror(gai));
    rc->fd = -1;
    rc->addr = addr;
    rc->timeout_ms = timeout_ms;
    int last = 0;
    for (struct addrinfo *ai = res; ai && rc->fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) continue;
        struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) rc->fd = fd;
        else {
            last = errno;
            close(fd);
        }
    }
    freeaddrinfo(res);
    if (rc->fd < 0) return sb_err_set(err, SB_EIO, "cannot connect to %s: %s", addr, strerror(last));
    return 0;
}

/* Sends one request (header v1, or v2 when flexible) and reads its answer; *resp holds the
 * body after the response header (malloc'd). */
static int raw_request(raw_conn_t *rc, int16_t key, int16_t version, bool flexible, const sb_wr_t *body,
                       uint8_t **resp, size_t *resp_len, sb_err_t *err)
{
    sb_wr_t w;
    sb_wr_init(&w, 64 + body->len);
    sb_wr_i32(&w, 0);
    sb_wr_i16(&w, key);
    sb_wr_i16(&w, version);
    int32_t corr = ++rc->corr;
    sb_wr_i32(&w, corr);
    sb_wr_str(&w, false, "streambus-ctl");
    if (flexible) sb_wr_tags(&w, true);
    sb_wr_bytes(&w, body->buf, body->len);
    sb_wr_patch_i32(&w, 0, (int32_t)(w.len - 4));
    int r = w.oom ? sb_err_set(err, SB_ENOMEM, "out of memory") : io_full(rc, w.buf, w.len, true, err);
    sb_wr_deinit(&w);
    if (r) return r;
    uint8_t hdr[8];
    if ((r = io_full(rc, hdr, 8, false, err))) return r;
    sb_rd_t rd;
    sb_rd_init(&rd, hdr, 8);
    int32_t size = sb_rd_i32(&rd);
    int32_t got_corr = sb_rd_i32(&rd);
    if (size < 4 || size > USER_MAX_RESPONSE) return sb_err_set(err, SB_EIO, "%s: malformed response size", rc->addr);
    if (got_corr != corr) return sb_err_set(err, SB_EIO, "%s: response for another request", rc->addr);
    size_t n = (size_t)size - 4;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) return sb_err_set(err, SB_ENOMEM, "out of memory");
    if ((r = io_full(rc, buf, n, false, err))) {
        free(buf);
        return r;
    }
    *resp = buf;
    *resp_len = n;
    return 0;
}

/* SaslHandshake v1 + SaslAuthenticate v0 (the flow librdkafka uses). */
static int raw_sasl(raw_conn_t *rc, const ctl_args_t *args, sb_err_t *err)
{
    const char *mech = client_prop(args, "sasl.mechanism");
    if (!mech) mech = client_prop(args, "sasl.mechanisms");
    const char *user = client_prop(args, "sasl.username");
    const char *pass = client_prop(args, "sasl.password");
    if (!mech) mech = "PLAIN";
    if (!user || !pass) return sb_err_set(err, SB_EINVAL, "SASL needs -X sasl.username=... and -X sasl.password=...");
    scram_mechanism_t m;
    bool scram = scram_mechanism_parse(mech, strlen(mech), &m) == 0;
    if (!scram && strcmp(mech, "PLAIN") != 0)
        return sb_err_set(err, SB_EINVAL, "ctl user supports SASL mechanisms SCRAM-SHA-256, SCRAM-SHA-512 and PLAIN, not %s",
                          mech);
    sb_wr_t body;
    sb_wr_init(&body, 64);
    sb_wr_str(&body, false, mech);
    uint8_t *resp = NULL;
    size_t len = 0;
    int r = raw_request(rc, KAFKA_API_SaslHandshake, 1, false, &body, &resp, &len, err);
    sb_wr_deinit(&body);
    if (r) return r;
    sb_rd_t rd;
    sb_rd_init(&rd, resp, len);
    int16_t code = sb_rd_i16(&rd);
    free(resp);
    if (code) return sb_err_set(err, SB_EIO, "SaslHandshake for %s refused: %s", mech, kafka_error_name(code));

    scram_client_t *sc = scram ? scram_client_new(m, user, pass) : NULL;
    uint8_t *msg = NULL;
    size_t msg_len = 0;
    if (scram) {
        if (!sc || scram_client_first(sc, &msg, &msg_len)) r = sb_err_set(err, SB_ENOMEM, "out of memory");
    } else {
        size_t ul = strlen(user), pl = strlen(pass);
        msg = malloc(ul + pl + 2);
        if (!msg) r = sb_err_set(err, SB_ENOMEM, "out of memory");
        else {
            msg[0] = 0;
            memcpy(msg + 1, user, ul);
            msg[1 + ul] = 0;
            memcpy(msg + 2 + ul, pass, pl);
            msg_len = ul + pl + 2;
        }
    }
    for (int round = 0; r == 0 && msg; round++) {
        sb_wr_init(&body, 64 + msg_len);
        sb_wr_byts(&body, false, msg, (int32_t)msg_len);
        OPENSSL_cleanse(msg, msg_len);
        free(msg);
        msg = NULL;
        r = raw_request(rc, KAFKA_API_SaslAuthenticate, 0, false, &body, &resp, &len, err);
        sb_wr_deinit(&body);
        if (r) break;
        sb_rd_init(&rd, resp, len);
        code = sb_rd_i16(&rd);
        sb_slice_t emsg = sb_rd_string(&rd);
        sb_slice_t bytes = sb_rd_kbytes(&rd);
        if (!sb_rd_ok(&rd)) r = sb_err_set(err, SB_EIO, "malformed SaslAuthenticate response");
        else if (code)
            r = sb_err_set(err, SB_EIO, "SASL authentication as \"%s\" failed: %s: %.*s", user, kafka_error_name(code),
                           emsg.len > 0 ? (int)emsg.len : 0, (const char *)emsg.p);
        else if (scram && round == 0)
            r = scram_client_final(sc, bytes.p, bytes.len > 0 ? (size_t)bytes.len : 0, &msg, &msg_len, err);
        else if (scram)
            r = scram_client_verify(sc, bytes.p, bytes.len > 0 ? (size_t)bytes.len : 0, err);
        free(resp);
    }
    free(msg);
    scram_client_free(sc);
    return r;
}

static int user_connect(ctl_ctx_t *ctx, raw_conn_t *rc, sb_err_t *err)
{
    const char *proto = client_prop(ctx->args, "security.protocol");
    if (proto && strcasecmp(proto, "PLAINTEXT") != 0 && strcasecmp(proto, "SASL_PLAINTEXT") != 0)
        return sb_err_set(err, SB_EINVAL,
                          "ctl user speaks PLAINTEXT and SASL_PLAINTEXT only (security.protocol=%s); use a "
                          "loopback listener for user administration",
                          proto);
    int r = raw_connect(rc, ctx->args->bootstrap, ctx->args->timeout_ms, err);
    if (r == 0 && proto && strcasecmp(proto, "SASL_PLAINTEXT") == 0) r = raw_sasl(rc, ctx->args, err);
    if (r && rc->fd >= 0) {
        close(rc->fd);
        rc->fd = -1;
    }
    return r;
}

/* ---- DescribeUserScramCredentials ---- */

typedef struct user_cred {
    char *user;
    int16_t error;
    char *message;
    int n;
    int8_t mech[2];
    int32_t iterations[2];
} user_cred_t;

typedef struct user_list {
    user_cred_t *v;
    int32_t n;
} user_list_t;

static void user_list_free(user_list_t *l)
{
    for (int32_t i = 0; i < l->n; i++) {
        free(l->v[i].user);
        free(l->v[i].message);
    }
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static char *slice_strdup(sb_slice_t s)
{
    return s.len < 0 ? NULL : strndup((const char *)s.p, (size_t)s.len);
}

/* name NULL: every user. */
static int describe(raw_conn_t *rc, const char *name, user_list_t *out, sb_err_t *err)
{
    memset(out, 0, sizeof(*out));
    sb_wr_t body;
    sb_wr_init(&body, 64);
    if (name) {
        sb_wr_array(&body, true, 1);
        sb_wr_str(&body, true, name);
        sb_wr_tags(&body, true);
    } else {
        sb_wr_array(&body, true, -1);
    }
    sb_wr_tags(&body, true);
    uint8_t *resp;
    size_t len;
    int r = raw_request(rc, KAFKA_API_DescribeUserScramCredentials, 0, true, &body, &resp, &len, err);
    sb_wr_deinit(&body);
    if (r) return r;
    sb_rd_t rd;
    sb_rd_init(&rd, resp, len);
    sb_rd_tags(&rd); /* response header v1 */
    sb_rd_i32(&rd);
    int16_t code = sb_rd_i16(&rd);
    sb_slice_t msg = sb_rd_compact_string(&rd);
    int32_t n = sb_rd_array(&rd, true, 4);
    if (sb_rd_ok(&rd) && code) {
        r = sb_err_set(err, SB_EIO, "DescribeUserScramCredentials failed: %s%s%.*s", kafka_error_name(code),
                       msg.len > 0 ? ": " : "", msg.len > 0 ? (int)msg.len : 0, (const char *)msg.p);
        free(resp);
        return r;
    }
    if (n > 0) out->v = calloc((size_t)n, sizeof(*out->v));
    for (int32_t i = 0; i < n && out->v && sb_rd_ok(&rd); i++) {
        user_cred_t *u = &out->v[i];
        out->n++;
        u->user = slice_strdup(sb_rd_compact_string(&rd));
        u->error = sb_rd_i16(&rd);
        u->message = slice_strdup(sb_rd_compact_string(&rd));
        int32_t ni = sb_rd_array(&rd, true, 5);
        for (int32_t j = 0; j < ni && sb_rd_ok(&rd); j++) {
            int8_t m = sb_rd_i8(&rd);
            int32_t it = sb_rd_i32(&rd);
            sb_rd_tags(&rd);
            if (u->n < 2) {
                u->mech[u->n] = m;
                u->iterations[u->n] = it;
                u->n++;
            }
        }
        sb_rd_tags(&rd);
    }
    bool ok = sb_rd_ok(&rd) && (n <= 0 || out->v);
    free(resp);
    if (!ok) {
        user_list_free(out);
        return sb_err_set(err, SB_EIO, "malformed DescribeUserScramCredentials response");
    }
    return 0;
}

static const char *mech_name_of(int8_t id)
{
    scram_mechanism_t m;
    return scram_mechanism_from_kafka_id(id, &m) == 0 ? scram_mechanism_name(m) : "UNKNOWN";
}

int ctl_user_list(ctl_ctx_t *ctx, sb_err_t *err)
{
    raw_conn_t rc = {.fd = -1};
    int r = user_connect(ctx, &rc, err);
    if (r) return r;
    user_list_t l;
    r = describe(&rc, NULL, &l, err);
    close(rc.fd);
    if (r) return r;
    if (ctx->args->output == CTL_OUTPUT_JSON) {
        json_t *arr = json_array();
        for (int32_t i = 0; i < l.n; i++) {
            json_t *creds = json_array();
            for (int j = 0; j < l.v[i].n; j++)
                json_array_append_new(creds, json_pack("{s:s,s:i}", "mechanism", mech_name_of(l.v[i].mech[j]),
                                                       "iterations", (int)l.v[i].iterations[j]));
            json_array_append_new(arr, json_pack("{s:s,s:o}", "user", l.v[i].user ? l.v[i].user : "",
                                                 "credentials", creds));
        }
        user_list_free(&l);
        return ctl_print_json(ctx, arr, err);
    }
    const char *headers[] = {"USER", "MECHANISM", "ITERATIONS"};
    ctl_table_t *t = ctl_table_new(3, headers);
    for (int32_t i = 0; t && i < l.n; i++)
        for (int j = 0; j < l.v[i].n; j++) {
            char it[16];
            snprintf(it, sizeof(it), "%d", (int)l.v[i].iterations[j]);
            const char *row[] = {l.v[i].user, mech_name_of(l.v[i].mech[j]), it};
            ctl_table_add_row(t, row);
        }
    if (t) ctl_table_print(t, ctx->out);
    ctl_table_free(t);
    user_list_free(&l);
    return t ? 0 : sb_err_set(err, SB_ENOMEM, "out of memory");
}

/* ---- AlterUserScramCredentials ---- */

/* Reads the new password: the first line of --password-file, or of standard input (without
 * echo when it is a terminal). */
static int read_password(ctl_ctx_t *ctx, char *out, size_t cap, sb_err_t *err)
{
    const char *path = ctx->args->password_file;
    FILE *fp = path ? fopen(path, "r") : stdin;
    if (!fp) return sb_err_set(err, SB_EIO, "cannot read --password-file %s: %s", path, strerror(errno));
    struct termios old, quiet;
    bool tty = !path && isatty(fileno(stdin)) && tcgetattr(fileno(stdin), &old) == 0;
    if (tty) {
        fprintf(ctx->errout, "Password: ");
        fflush(ctx->errout);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(fileno(stdin), TCSANOW, &quiet);
    }
    char *got = fgets(out, (int)cap, fp);
    if (tty) {
        tcsetattr(fileno(stdin), TCSANOW, &old);
        fputc('\n', ctx->errout);
    }
    if (path) fclose(fp);
    if (!got) return sb_err_set(err, SB_EINVAL, "no password given (on %s)", path ? path : "standard input");
    size_t n = strlen(out);
    if (n + 1 == cap && out[n - 1] != '\n') return sb_err_set(err, SB_EINVAL, "password longer than %zu bytes", cap - 2);
    while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) out[--n] = 0;
    if (n == 0) return sb_err_set(err, SB_EINVAL, "the password must not be empty");
    return 0;
}

/* mechs: bit 0 SHA-256, bit 1 SHA-512. password NULL: delete those credentials. */
static int alter(ctl_ctx_t *ctx, raw_conn_t *rc, const char *user, unsigned mechs, const char *password, sb_err_t *err)
{
    sb_wr_t body;
    sb_wr_init(&body, 256);
    int nm = (mechs & 1) + ((mechs >> 1) & 1);
    sb_wr_array(&body, true, password ? 0 : nm);
    for (int i = 0; !password && i < 2; i++)
        if (mechs & (1u << i)) {
            sb_wr_str(&body, true, user);
            sb_wr_i8(&body, (int8_t)(i + 1));
            sb_wr_tags(&body, true);
        }
    sb_wr_array(&body, true, password ? nm : 0);
    int r = 0;
    for (int i = 0; password && i < 2 && r == 0; i++) {
        if (!(mechs & (1u << i))) continue;
        scram_mechanism_t m = i ? SCRAM_SHA_512 : SCRAM_SHA_256;
        uint8_t salt[32], salted[SCRAM_MAX_HASH];
        int32_t iterations = ctx->args->iterations > 0 ? ctx->args->iterations : SCRAM_DEFAULT_ITERATIONS;
        if (RAND_bytes(salt, sizeof(salt)) != 1 ||
            scram_salted_password(m, password, strlen(password), salt, sizeof(salt), iterations, salted) != 0) {
            r = sb_err_set(err, SB_EIO, "cannot salt the password");
            break;
        }
        sb_wr_str(&body, true, user);
        sb_wr_i8(&body, scram_mechanism_kafka_id(m));
        sb_wr_i32(&body, iterations);
        sb_wr_byts(&body, true, salt, sizeof(salt));
        sb_wr_byts(&body, true, salted, (int32_t)scram_hash_len(m));
        sb_wr_tags(&body, true);
        OPENSSL_cleanse(salted, sizeof(salted));
    }
    sb_wr_tags(&body, true);
    uint8_t *resp = NULL;
    size_t len = 0;
    if (r == 0) r = raw_request(rc, KAFKA_API_AlterUserScramCredentials, 0, true, &body, &resp, &len, err);
    OPENSSL_cleanse(body.buf, body.len);
    sb_wr_deinit(&body);
    if (r) return r;
    sb_rd_t rd;
    sb_rd_init(&rd, resp, len);
    sb_rd_tags(&rd);
    sb_rd_i32(&rd);
    int32_t n = sb_rd_array(&rd, true, 4);
    for (int32_t i = 0; i < n && r == 0 && sb_rd_ok(&rd); i++) {
        sb_slice_t u = sb_rd_compact_string(&rd);
        int16_t code = sb_rd_i16(&rd);
        sb_slice_t msg = sb_rd_compact_string(&rd);
        sb_rd_tags(&rd);
        if (sb_rd_ok(&rd) && code)
            r = sb_err_set(err, SB_EIO, "user \"%.*s\": %s%s%.*s", u.len > 0 ? (int)u.len : 0, (const char *)u.p,
                           kafka_error_name(code), msg.len > 0 ? ": " : "", msg.len > 0 ? (int)msg.len : 0,
                           (const char *)msg.p);
    }
    if (r == 0 && !sb_rd_ok(&rd)) r = sb_err_set(err, SB_EIO, "malformed AlterUserScramCredentials response");
    free(resp);
    return r;
}

/* Which mechanisms --mechanism names: "both" (default for add), SCRAM-SHA-256, SCRAM-SHA-512. */
static int wanted_mechs(const ctl_args_t *args, unsigned dflt, unsigned *out, sb_err_t *err)
{
    const char *m = args->user_mechanism;
    if (!m) *out = dflt;
    else if (strcmp(m, "SCRAM-SHA-256") == 0) *out = 1;
    else if (strcmp(m, "SCRAM-SHA-512") == 0) *out = 2;
    else if (strcmp(m, "both") == 0) *out = 3;
    else return sb_err_set(err, SB_EINVAL, "--mechanism must be SCRAM-SHA-256, SCRAM-SHA-512 or both, got \"%s\"", m);
    return 0;
}

static unsigned mechs_of(const user_cred_t *u)
{
    unsigned have = 0;
    for (int j = 0; j < u->n; j++) have |= u->mech[j] == 1 ? 1u : u->mech[j] == 2 ? 2u : 0u;
    return have;
}

static int user_change(ctl_ctx_t *ctx, int verb, sb_err_t *err)
{
    const char *user = ctx->args->name;
    raw_conn_t rc = {.fd = -1};
    int r = user_connect(ctx, &rc, err);
    if (r) return r;
    user_list_t l;
    r = describe(&rc, user, &l, err);
    unsigned have = 0;
    if (r == 0 && l.n == 1) {
        if (l.v[0].error == KAFKA_ERR_NONE) have = mechs_of(&l.v[0]);
        else if (l.v[0].error != KAFKA_ERR_RESOURCE_NOT_FOUND)
            r = sb_err_set(err, SB_EIO, "user \"%s\": %s: %s", user, kafka_error_name(l.v[0].error),
                           l.v[0].message ? l.v[0].message : "");
    }
    if (r == 0) user_list_free(&l);
    unsigned want = 0;
    if (r == 0) r = wanted_mechs(ctx->args, verb == 0 ? 3 : have ? have : 3, &want, err);
    if (r == 0 && verb == 0 && (have & want))
        r = sb_err_set(err, SB_EEXIST, "user \"%s\" already has a %s credential (use 'user passwd' to change it)", user,
                       (have & want & 1) ? "SCRAM-SHA-256" : "SCRAM-SHA-512");
    if (r == 0 && verb != 0 && !have) r = sb_err_set(err, SB_ENOENT, "user \"%s\" does not exist", user);
    if (r == 0 && verb == 2 && !(have & want))
        r = sb_err_set(err, SB_ENOENT, "user \"%s\" has no %s credential", user,
                       want == 1 ? "SCRAM-SHA-256" : "SCRAM-SHA-512");
    char password[1024];
    if (r == 0 && verb != 2) r = read_password(ctx, password, sizeof(password), err);
    if (r == 0) r = alter(ctx, &rc, user, verb == 2 ? (want & have) : want, verb == 2 ? NULL : password, err);
    OPENSSL_cleanse(password, sizeof(password));
    close(rc.fd);
    if (r) return r;
    static const char *const done[] = {"created", "password changed", "removed"};
    if (ctx->args->output == CTL_OUTPUT_JSON)
        return ctl_print_json(ctx, json_pack("{s:s,s:s}", "user", user, "result", done[verb]), err);
    fprintf(ctx->out, "user \"%s\" %s\n", user, done[verb]);
    return 0;
}

int ctl_user_add(ctl_ctx_t *ctx, sb_err_t *err)
{
    return user_change(ctx, 0, err);
}

int ctl_user_passwd(ctl_ctx_t *ctx, sb_err_t *err)
{
    return user_change(ctx, 1, err);
}

int ctl_user_remove(ctl_ctx_t *ctx, sb_err_t *err)
{
    return user_change(ctx, 2, err);
}
