/* SASL on the Kafka protocol and the SCRAM credential admin APIs:
 *
 *   SaslHandshake (v0–v1)      picks the mechanism. After v0 the client sends bare SASL tokens
 *                              as frames (kafka-python does); after v1 it wraps them in
 *   SaslAuthenticate (v0–v2)   requests, whose v1+ answer carries session_lifetime_ms (KIP-368).
 *   DescribeUserScramCredentials (v0), AlterUserScramCredentials (v0)
 *                              list and change the credential store (src/security/credentials.h).
 *
 * The per-connection state (sasl_conn_t) says whether a connection on a SASL_* listener may send
 * anything besides ApiVersions/SaslHandshake/SaslAuthenticate yet; broker_sasl_check_request()
 * is the dispatcher's gate. Failed authentications are answered late (a delay per failure) and,
 * past a per-address budget, refused outright; both are counted in metrics and logged without
 * the secret. Everything here runs on the network thread. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/authz.h"
#include "broker/broker_int.h"
#include "broker/handlers/handlers.h"
#include "broker/handlers/sasl_int.h"
#include "common/clock.h"
#include "common/log.h"
#include "http/jwt.h"
#include "kafka/protocol.h"
#include "metrics/metrics.h"
#include "net/conn.h"
#include "security/credentials.h"
#include "security/sasl.h"

/* Failure bookkeeping per client address: a small open-addressing table; when it is full the
 * oldest window is recycled, so a flood of addresses cannot grow memory. */
#define FAIL_SLOTS 1024

typedef struct fail_entry {
    char host[48];
    int64_t window_start_ms;
    int32_t failures;
} fail_entry_t;

struct broker_sasl {
    cred_store_t *creds;
    sasl_config_t cfg;
    http_jwt_verifier_t *jwt; /* OAUTHBEARER verifier, NULL when no key is configured */
    int64_t reauth_ms;
    int32_t max_failures;
    int64_t window_ms;
    int64_t delay_ms;
    fail_entry_t fails[FAIL_SLOTS];
    delayed_failure_t *delayed; /* failure answers waiting for their delay, due order */
    metrics_counter_t *m_success[4], *m_failure[4];
    metrics_counter_t *m_refused;
    /* Per listener (b->listeners[i]): its own mechanisms, 0 = cfg.mechanisms. */
    unsigned listener_mechanisms[BROKER_MAX_LISTENERS];
    unsigned default_mechanisms; /* sasl.enabled_mechanisms */
};

/* A listener whose sasl_mechanisms list is empty offers nothing (distinct from "not set"). */
#define SASL_MECH_NONE_MARK (1u << 31)

static int mech_index(sasl_mechanism_t m)
{
    switch (m) {
    case SASL_MECH_PLAIN: return 0;
    case SASL_MECH_SCRAM_SHA_256: return 1;
    case SASL_MECH_SCRAM_SHA_512: return 2;
    default: return 3;
    }
}

static int64_t wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

/* Loads the OAUTHBEARER key file into the shared JWT verifier (src/http/jwt.h): a PEM public
 * key or a JWKS file (RS256/ES256), or else an HS256 secret (trailing newline ignored). */
static int load_jwt_secret(const broker_options_t *o, broker_sasl_t *s, sb_err_t *err)
{
    const char *path = o->sasl_oauthbearer_secret_file;
    FILE *fp = fopen(path, "rb");
    if (!fp) return sb_err_set(err, SB_EIO, "sasl.oauthbearer_secret_file %s: %s", path, strerror(errno));
    char buf[1025];
    size_t n = fread(buf, 1, sizeof(buf), fp);
    fclose(fp);
    sb_err_t e = {0};
    http_jwt_options_t opt = {.leeway_s = 60,
                              .audience = o->sasl_oauthbearer_audience,
                              .issuer = o->sasl_oauthbearer_issuer};
    int rc = http_jwt_verifier_new(&opt, &s->jwt, &e);
    bool public_key = n > 0 && (buf[0] == '{' || (n >= 10 && memcmp(buf, "-----BEGIN", 10) == 0));
    if (rc == 0 && public_key) {
        rc = http_jwt_verifier_add_key_file(s->jwt, path, &e);
    } else if (rc == 0) {
        if (n == sizeof(buf)) {
            memset(buf, 0, sizeof(buf));
            return sb_err_set(err, SB_EINVAL, "sasl.oauthbearer_secret_file %s: longer than 1024 bytes", path);
        }
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) n--;
        rc = http_jwt_verifier_add_hmac(s->jwt, buf, n, NULL, &e);
    }
    memset(buf, 0, sizeof(buf));
    if (rc != 0) return sb_err_set(err, SB_EINVAL, "sasl.oauthbearer_secret_file %s: %s", path, e.msg);
    return 0;
}

static unsigned usable_mechanisms(const broker_sasl_t *s, const broker_conn_info_t *ci);

/* A SASL listener whose every mechanism is ruled out (PLAIN without TLS, OAUTHBEARER without
 * a key) refuses every client: say so at start-up rather than at each client's handshake. */
static void warn_unusable_listeners(const broker_t *b, const broker_sasl_t *s)
{
    for (int i = 0; i < b->opt.nlisteners && i < BROKER_MAX_LISTENERS; i++) {
        const broker_listener_options_t *l = &b->opt.listeners[i];
        if (l->protocol != NET_PROTO_SASL_PLAINTEXT && l->protocol != NET_PROTO_SASL_SSL) continue;
        broker_conn_info_t ci = {.sasl_listener = true,
                                 .encrypted = l->protocol == NET_PROTO_SASL_SSL,
                                 .listener_index = i};
        if (usable_mechanisms(s, &ci) == 0)
            sb_warn("sasl",
                    "listener %s offers no usable SASL mechanism, so it will refuse every client: "
                    "PLAIN needs SASL_SSL (or sasl.plain_without_tls), OAUTHBEARER needs "
                    "sasl.oauthbearer_secret_file",
                    l->name);
    }
}

int broker_sasl_init(broker_t *b, sb_err_t *err)
{
    broker_sasl_t *s = calloc(1, sizeof(*s));
    if (!s) return sb_err_set(err, SB_ENOMEM, "out of memory");
    b->sasl = s;
    unsigned mask = 0;
    int rc = sasl_mechanisms_parse(b->opt.sasl_mechanisms, &mask, err);
    if (rc) return rc;
    char dir[1100];
    snprintf(dir, sizeof(dir), "%s/.security", b->opt.data_dir);
    if ((rc = cred_store_open_file(dir, &s->creds, err)) < 0) return rc;
    if (b->opt.sasl_oauthbearer_secret_file[0] && (rc = load_jwt_secret(&b->opt, s, err)) < 0)
        return rc;
    if (RAND_bytes(s->cfg.mock_secret, sizeof(s->cfg.mock_secret)) != 1)
        return sb_err_set(err, SB_EIO, "cannot draw random bytes");
    /* cfg.mechanisms is every mechanism some listener offers (sessions check it); what one
     * connection may use is narrowed per listener in usable_mechanisms(). */
    s->cfg.mechanisms = mask;
    for (int i = 0; i < b->opt.nlisteners && i < BROKER_MAX_LISTENERS; i++) {
        const char *lm = b->opt.listeners[i].sasl_mechanisms;
        if (!lm[0]) continue;
        unsigned own = 0;
        if ((rc = sasl_mechanisms_parse(lm, &own, err)) < 0) return rc;
        s->listener_mechanisms[i] = own ? own : SASL_MECH_NONE_MARK;
        s->cfg.mechanisms |= own;
    }
    s->default_mechanisms = mask;
    s->cfg.creds = s->creds;
    s->cfg.plain_without_tls = b->opt.sasl_plain_without_tls;
    s->cfg.verify_token = s->jwt ? sasl_verify_http_jwt : NULL;
    s->cfg.verify_arg = s->jwt;
    s->reauth_ms = b->opt.sasl_reauth_ms;
    s->max_failures = b->opt.sasl_max_failures > 0 ? b->opt.sasl_max_failures : 10;
    s->window_ms = b->opt.sasl_failure_window_ms > 0 ? b->opt.sasl_failure_window_ms : 60000;
    s->delay_ms = b->opt.sasl_failure_delay_ms;
    warn_unusable_listeners(b, s);
    if (b->metrics) {
        static const char *const names[] = {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"};
        for (int i = 0; i < 4; i++) {
            char labels[96];
            snprintf(labels, sizeof(labels), "mechanism=\"%s\",result=\"success\"", names[i]);
            s->m_success[i] = metrics_counter(b->metrics, "streambus_sasl_authentications_total",
                                              "SASL authentications, by mechanism and result.", labels);
            snprintf(labels, sizeof(labels), "mechanism=\"%s\",result=\"failure\"", names[i]);
            s->m_failure[i] = metrics_counter(b->metrics, "streambus_sasl_authentications_total",
                                              "SASL authentications, by mechanism and result.", labels);
        }
        s->m_refused = metrics_counter(b->metrics, "streambus_sasl_refused_total",
                                       "SASL handshakes refused because the client address failed too often.", NULL);
    }
    return 0;
}

void broker_sasl_free(broker_t *b)
{
    broker_sasl_t *s = b->sasl;
    if (!s) return;
    broker_sasl_delayed_free_all(b);
    cred_store_free(s->creds);
    http_jwt_verifier_free(s->jwt);
    free(s);
    b->sasl = NULL;
}

cred_store_t *broker_cred_store(broker_t *b)
{
    return b->sasl ? b->sasl->creds : NULL;
}

/* ---- per-address failure budget ---- */

static uint32_t host_hash(const char *h)
{
    uint32_t x = 2166136261u;
    for (; *h; h++) x = (x ^ (uint8_t)*h) * 16777619u;
    return x;
}

/* The entry of `host`, or (create) a fresh or expired slot for it; NULL when absent. */
static fail_entry_t *fail_lookup(broker_sasl_t *s, const char *host, int64_t now_ms, bool create)
{
    uint32_t h = host_hash(host);
    fail_entry_t *victim = NULL;
    for (int i = 0; i < 8; i++) {
        fail_entry_t *e = &s->fails[(h + (uint32_t)i) % FAIL_SLOTS];
        if (e->host[0] && strcmp(e->host, host) == 0) {
            if (now_ms - e->window_start_ms >= s->window_ms) {
                e->window_start_ms = now_ms;
                e->failures = 0;
            }
            return e;
        }
        if (!victim || !e->host[0] || e->window_start_ms < victim->window_start_ms) victim = e;
    }
    if (!create) return NULL;
    snprintf(victim->host, sizeof(victim->host), "%s", host);
    victim->window_start_ms = now_ms;
    victim->failures = 0;
    return victim;
}

bool broker_sasl_address_blocked(broker_t *b, const char *host)
{
    broker_sasl_t *s = b->sasl;
    fail_entry_t *e = fail_lookup(s, host, sb_mono_ms(), false);
    return e && e->failures >= s->max_failures;
}

/* ---- SaslHandshake / SaslAuthenticate ---- */

void sasl_conn_free(void *p)
{
    sasl_conn_t *sc = p;
    if (!sc) return;
    sasl_session_free(sc->session);
    free(sc);
}

static void add_mech(void *arg, const char *name)
{
    sb_wr_t *w = arg;
    sb_wr_str(w, false, name);
}

static void count_mech(void *arg, const char *name)
{
    (*(int32_t *)arg)++;
}

/* The mechanisms a connection may use: PLAIN only where it is allowed (TLS or the dev option). */
static unsigned usable_mechanisms(const broker_sasl_t *s, const broker_conn_info_t *ci)
{
    bool encrypted = ci->encrypted;
    unsigned m = ci->listener_index >= 0 && ci->listener_index < BROKER_MAX_LISTENERS &&
                         s->listener_mechanisms[ci->listener_index]
                     ? s->listener_mechanisms[ci->listener_index] & ~SASL_MECH_NONE_MARK
                     : s->default_mechanisms;
    if (!encrypted && !s->cfg.plain_without_tls) m &= ~(unsigned)SASL_MECH_PLAIN;
    if (!s->jwt) m &= ~(unsigned)SASL_MECH_OAUTHBEARER;
    return m;
}

int broker_sasl_handshake(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, int16_t version,
                          sb_slice_t mech_name, sb_wr_t *resp)
{
    broker_sasl_t *s = b->sasl;
    unsigned usable = usable_mechanisms(s, ci);
    int16_t error = KAFKA_ERR_NONE;
    sasl_mechanism_t m = 0;
    if (!ci->sasl_listener) {
        error = KAFKA_ERR_ILLEGAL_SASL_STATE;
        usable = 0;
    } else if (sc->state == SASL_CONN_AUTHENTICATED && version == 0) {
        /* KIP-368 re-authentication only exists with SaslAuthenticate framing. */
        error = KAFKA_ERR_ILLEGAL_SASL_STATE;
    } else if (sc->state != SASL_CONN_NEW && sc->state != SASL_CONN_AUTHENTICATED) {
        error = KAFKA_ERR_ILLEGAL_SASL_STATE;
    } else if (sasl_mechanism_parse((const char *)mech_name.p, mech_name.len < 0 ? 0 : (size_t)mech_name.len, &m) != 0 ||
               !(usable & m)) {
        error = KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM;
    } else if (sc->state == SASL_CONN_AUTHENTICATED && m != sc->mechanism) {
        /* Kafka refuses a mechanism change on re-authentication. */
        error = KAFKA_ERR_ILLEGAL_SASL_STATE;
    }
    if (error == KAFKA_ERR_NONE) {
        sb_err_t err = {0};
        sasl_session_free(sc->session);
        sc->session = NULL;
        if (sasl_session_new(&s->cfg, m, ci->encrypted, &sc->session, &err) != 0) {
            error = KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM;
        } else {
            sc->reauth = sc->state == SASL_CONN_AUTHENTICATED;
            sc->mechanism = m;
            sc->state = version == 0 ? SASL_CONN_RAW : SASL_CONN_HANDSHAKEN;
        }
    }
    if (error != KAFKA_ERR_NONE)
        sb_info("sasl", "SaslHandshake from %s refused: %s for mechanism \"%.*s\"", ci->peer, kafka_error_name(error),
                (int)(mech_name.len > 0 && mech_name.len < 40 ? mech_name.len : 0), (const char *)mech_name.p);
    sb_wr_i16(resp, error);
    int32_t n = 0;
    sasl_mechanisms_foreach(usable, count_mech, &n);
    sb_wr_array(resp, false, n);
    sasl_mechanisms_foreach(usable, add_mech, resp);
    return 0;
}

/* Records a failed attempt; returns the reason kind for the client message. */
static void note_failure(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, const char *why)
{
    broker_sasl_t *s = b->sasl;
    fail_entry_t *e = fail_lookup(s, ci->host, sb_mono_ms(), true);
    e->failures++;
    metrics_counter_inc(s->m_failure[mech_index(sc->mechanism)]);
    const char *claimed = sc->session ? sasl_session_claimed_user(sc->session) : NULL;
    /* The claimed name is what the client sent: quoted with %.*s bounds, never a password. */
    sb_warn("sasl", "authentication failed from %s: mechanism %s, user \"%s\": %s (%d failure(s) in this window)",
            ci->peer, sasl_mechanism_name(sc->mechanism), claimed ? claimed : "", why, e->failures);
}

int broker_sasl_authenticate(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, const uint8_t *in,
                             size_t in_len, sasl_auth_result_t *res)
{
    broker_sasl_t *s = b->sasl;
    memset(res, 0, sizeof(*res));
    if (sc->state != SASL_CONN_HANDSHAKEN && sc->state != SASL_CONN_RAW) {
        res->error = KAFKA_ERR_ILLEGAL_SASL_STATE;
        snprintf(res->message, sizeof(res->message), "Unexpected SaslAuthenticate: no SaslHandshake before it");
        sc->state = SASL_CONN_FAILED;
        return 0;
    }
    sb_err_t err = {0};
    int rc = sasl_session_step(sc->session, in, in_len, wall_s(), &res->out, &res->out_len, &err);
    if (rc == SB_EAGAIN) return 0;
    if (rc == 0) {
        const char *user = sasl_session_user(sc->session);
        if (sc->reauth && strcmp(user, sc->user) != 0) {
            snprintf(err.msg, sizeof(err.msg), "re-authentication as a different user");
            rc = SB_EINVAL;
        }
    }
    if (rc != 0) {
        note_failure(b, sc, ci, err.msg);
        free(res->out);
        res->out = NULL;
        res->out_len = 0;
        res->error = KAFKA_ERR_SASL_AUTHENTICATION_FAILED;
        /* Kafka's wording, which the clients show their users. The reason stays in our log: the
         * client is told only that its credentials were not accepted. */
        snprintf(res->message, sizeof(res->message),
                 "Authentication failed during authentication due to invalid credentials with SASL mechanism %s",
                 sasl_mechanism_name(sc->mechanism));
        res->delay_ms = s->delay_ms;
        sc->state = SASL_CONN_FAILED;
        sasl_session_free(sc->session);
        sc->session = NULL;
        return 0;
    }
    /* Authenticated. The session ends at the earlier of connections.max.reauth.ms and the
     * credential's own expiry (an OAUTHBEARER token's exp). */
    int64_t now_wall_ms = wall_s() * 1000;
    int64_t lifetime = s->reauth_ms;
    int64_t exp_s = sasl_session_credential_expiry_s(sc->session);
    if (exp_s > 0) {
        int64_t left = exp_s * 1000 - now_wall_ms;
        if (left < 1) left = 1;
        if (lifetime <= 0 || left < lifetime) lifetime = left;
    }
    res->session_lifetime_ms = lifetime > 0 ? lifetime : 0;
    sc->expires_mono_ms = lifetime > 0 ? sb_mono_ms() + lifetime : 0;
    snprintf(sc->user, sizeof(sc->user), "%s", sasl_session_user(sc->session));
    metrics_counter_inc(s->m_success[mech_index(sc->mechanism)]);
    sb_info("sasl", "%s %s as User:%s via %s%s", ci->peer, sc->reauth ? "re-authenticated" : "authenticated", sc->user,
            sasl_mechanism_name(sc->mechanism), lifetime > 0 ? " (session lifetime set)" : "");
    sc->state = SASL_CONN_AUTHENTICATED;
    sc->reauth = false;
    sasl_session_free(sc->session);
    sc->session = NULL;
    res->authenticated = true;
    return 0;
}

int broker_sasl_gate(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, int16_t api_key, char *why,
                     size_t cap)
{
    if (!ci->sasl_listener) return 0;
    bool sasl_api = api_key == KAFKA_API_ApiVersions || api_key == KAFKA_API_SaslHandshake ||
                    api_key == KAFKA_API_SaslAuthenticate;
    if (sc && sc->state == SASL_CONN_FAILED) {
        snprintf(why, cap, "request after a failed SASL authentication");
        return -1;
    }
    if (sc && sc->state == SASL_CONN_AUTHENTICATED) {
        if (!sasl_api && sc->expires_mono_ms > 0 && sb_mono_ms() >= sc->expires_mono_ms) {
            snprintf(why, cap, "SASL session of User:%s expired without re-authentication", sc->user);
            return -1;
        }
        return 0;
    }
    if (sasl_api) {
        if (api_key == KAFKA_API_SaslHandshake && broker_sasl_address_blocked(b, ci->host) &&
            (!sc || sc->state == SASL_CONN_NEW)) {
            metrics_counter_inc(b->sasl->m_refused);
            snprintf(why, cap, "too many failed authentications from %s; refused for now", ci->host);
            sb_warn("sasl", "%s", why);
            return -1;
        }
        return 0;
    }
    snprintf(why, cap, "unexpected %s request before SASL authentication", kafka_api_name(api_key));
    return -1;
}

/* ---- delayed failure answers ---- */

void broker_sasl_delay(broker_t *b, delayed_failure_t *d)
{
    broker_sasl_t *s = b->sasl;
    d->due_ms = sb_mono_ms() + s->delay_ms;
    delayed_failure_t **pp = &s->delayed;
    while (*pp && (*pp)->due_ms <= d->due_ms) pp = &(*pp)->next;
    d->next = *pp;
    *pp = d;
}

void broker_sasl_poll(broker_t *b, int64_t now_ms)
{
    broker_sasl_t *s = b->sasl;
    if (!s) return;
    while (s->delayed && s->delayed->due_ms <= now_ms) {
        delayed_failure_t *d = s->delayed;
        s->delayed = d->next;
        d->release(b, d);
    }
}

int64_t broker_sasl_next_deadline(broker_t *b)
{
    return b->sasl && b->sasl->delayed ? b->sasl->delayed->due_ms : -1;
}

void broker_sasl_delayed_free_all(broker_t *b)
{
    broker_sasl_t *s = b->sasl;
    while (s && s->delayed) {
        delayed_failure_t *d = s->delayed;
        s->delayed = d->next;
        d->release(b, d);
    }
}


/* ---- the connection side: security context, Kafka framing, delayed answers ---- */

static void conn_info(broker_t *b, conn_t *c, broker_conn_info_t *ci)
{
    const net_security_t *sec = net_conn_security_const(c);
    net_listener_t *l = net_conn_listener(c);
    ci->listener_index = -1;
    for (int i = 0; l && i < b->nlisteners; i++)
        if (b->listeners[i].net == l) ci->listener_index = i;
    ci->sasl_listener = sec->protocol == NET_PROTO_SASL_PLAINTEXT || sec->protocol == NET_PROTO_SASL_SSL;
    ci->encrypted = net_security_protocol_tls(sec->protocol);
    ci->peer = sec->peer;
    ci->host = sec->peer_host;
}

/* The connection's sasl_conn_t, kept in the net layer's opaque slot (freed with the
 * connection); created on first use when `create`. */
static sasl_conn_t *conn_sasl(conn_t *c, bool create)
{
    net_security_t *sec = net_conn_security(c);
    if (!sec->sasl && create) {
        sec->sasl = calloc(1, sizeof(sasl_conn_t));
        if (sec->sasl) sec->sasl_free = sasl_conn_free;
    }
    return sec->sasl;
}

/* A failure answer held back: either a Kafka response slot (SaslAuthenticate) or a bare one
 * (SaslHandshake v0 framing, after which Kafka closes the connection). */
typedef struct conn_delay {
    delayed_failure_t base;
    kslot_t *kslot;
    net_slot_t *raw;
} conn_delay_t;

static void release_delay(broker_t *b, delayed_failure_t *d)
{
    conn_delay_t *cd = (conn_delay_t *)d;
    if (cd->kslot) kslot_complete(b, cd->kslot);
    if (cd->raw) {
        net_conn_t *c = cd->raw->conn;
        if (c) {
            net_slot_abandon(cd->raw);
            net_conn_close(c, "SASL authentication failed");
        } else {
            net_slot_complete(cd->raw); /* orphaned: this frees it */
        }
    }
    free(cd);
}

static bool hold_back(broker_t *b, kslot_t *kslot, net_slot_t *raw)
{
    conn_delay_t *cd = calloc(1, sizeof(*cd));
    if (!cd) return false;
    cd->base.release = release_delay;
    cd->kslot = kslot;
    cd->raw = raw;
    broker_sasl_delay(b, &cd->base);
    return true;
}

static void set_principal(conn_t *c, const char *user)
{
    char principal[SCRAM_MAX_USER + 8];
    snprintf(principal, sizeof(principal), "User:%s", user);
    net_conn_set_principal(c, principal);
}

int handle_SaslHandshake(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_slice_t mech = sb_rd_string(&req->body);
    if (!sb_rd_ok(&req->body)) return -1;
    broker_conn_info_t ci;
    conn_info(b, req->conn, &ci);
    sasl_conn_t *sc = conn_sasl(req->conn, true);
    if (!sc) return -1;
    broker_sasl_handshake(b, sc, &ci, req->api_version, mech, resp);
    return KAFKA_HANDLER_DONE;
}

int handle_SaslAuthenticate(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    bool flex = req->flexible;
    sb_slice_t in = sb_rd_byts(&req->body, flex);
    if (flex) sb_rd_tags(&req->body);
    if (!sb_rd_ok(&req->body) || in.len < 0) return -1;
    broker_conn_info_t ci;
    conn_info(b, req->conn, &ci);
    sasl_conn_t *sc = conn_sasl(req->conn, true);
    if (!sc) return -1;
    sasl_auth_result_t res;
    if (!ci.sasl_listener) {
        memset(&res, 0, sizeof(res));
        res.error = KAFKA_ERR_ILLEGAL_SASL_STATE;
        snprintf(res.message, sizeof(res.message), "SASL is not enabled on this listener");
    } else {
        broker_sasl_authenticate(b, sc, &ci, in.p, (size_t)in.len, &res);
    }
    sb_wr_i16(resp, res.error);
    sb_wr_str(resp, flex, res.message[0] ? res.message : NULL);
    sb_wr_byts(resp, flex, res.out ? res.out : (const uint8_t *)"", (int32_t)res.out_len);
    if (req->api_version >= 1) sb_wr_i64(resp, res.session_lifetime_ms);
    sb_wr_tags(resp, flex);
    free(res.out);
    if (res.authenticated) set_principal(req->conn, sc->user);
    if (res.error && res.delay_ms > 0 && hold_back(b, req->slot, NULL)) return KAFKA_HANDLER_DEFERRED;
    return KAFKA_HANDLER_DONE;
}

int broker_sasl_raw_frame(broker_t *b, conn_t *c, uint8_t *frame, size_t len)
{
    sasl_conn_t *sc = net_conn_security(c)->sasl;
    if (!sc || sc->state != SASL_CONN_RAW) return 0;
    broker_conn_info_t ci;
    conn_info(b, c, &ci);
    sasl_auth_result_t res;
    broker_sasl_authenticate(b, sc, &ci, frame, len, &res);
    if (res.error) {
        /* The v0 flow has no error field: Kafka closes the connection, which is what these
         * clients report. */
        net_slot_t *s = b->sasl->delay_ms > 0 ? net_slot_new(c, sizeof(net_slot_t)) : NULL;
        if (!s || !hold_back(b, NULL, s)) {
            if (s) net_slot_abandon(s);
            net_conn_close(c, "SASL authentication failed");
            return -1;
        }
        return 1;
    }
    net_slot_t *s = net_slot_new(c, sizeof(net_slot_t));
    if (!s) {
        free(res.out);
        net_conn_close(c, "out of memory");
        return -1;
    }
    sb_wr_bytes(&s->out, res.out ? res.out : (const uint8_t *)"", res.out_len);
    free(res.out);
    if (res.authenticated) {
        set_principal(c, sc->user);
    } else {
        /* The SCRAM exchange goes on: the next frame is raw too. */
        sc->state = SASL_CONN_RAW;
    }
    net_slot_complete(s);
    return 1;
}

int broker_sasl_check(broker_t *b, conn_t *c, int16_t api_key)
{
    broker_conn_info_t ci;
    conn_info(b, c, &ci);
    if (!ci.sasl_listener) return 0;
    char why[200];
    if (broker_sasl_gate(b, net_conn_security(c)->sasl, &ci, api_key, why, sizeof(why)) == 0) return 0;
    sb_info("sasl", "closing %s: %s", ci.peer, why);
    net_conn_close(c, why);
    return -1;
}

/* ---- DescribeUserScramCredentials (key 50, v0, flexible) ---- */

/* Collects (mechanism, iterations) for one user. */
typedef struct infos {
    int8_t mech[2];
    int32_t iter[2];
    int n;
} infos_t;

static int user_infos_cb(void *arg, const char *user, const scram_credential_t *c)
{
    void **a = arg;
    const char *want = a[0];
    infos_t *in = a[1];
    if (strcmp(user, want) == 0 && in->n < 2) {
        in->mech[in->n] = scram_mechanism_kafka_id(c->mechanism);
        in->iter[in->n] = c->iterations;
        in->n++;
    }
    return 0;
}

static void write_user_result(sb_wr_t *w, const char *user, int16_t error, const char *msg, const infos_t *in)
{
    sb_wr_str(w, true, user);
    sb_wr_i16(w, error);
    sb_wr_str(w, true, msg);
    sb_wr_array(w, true, in ? in->n : 0);
    for (int i = 0; in && i < in->n; i++) {
        sb_wr_i8(w, in->mech[i]);
        sb_wr_i32(w, in->iter[i]);
        sb_wr_tags(w, true);
    }
    sb_wr_tags(w, true);
}

typedef struct all_users {
    char **names;
    int32_t n, cap;
} all_users_t;

static int collect_users_cb(void *arg, const char *user, const scram_credential_t *c)
{
    all_users_t *a = arg;
    if (a->n > 0 && strcmp(a->names[a->n - 1], user) == 0) return 0;
    if (a->n == a->cap) {
        int32_t cap = a->cap ? a->cap * 2 : 16;
        char **v = realloc(a->names, (size_t)cap * sizeof(*v));
        if (!v) return SB_ENOMEM;
        a->names = v;
        a->cap = cap;
    }
    a->names[a->n] = strdup(user);
    if (!a->names[a->n]) return SB_ENOMEM;
    a->n++;
    return 0;
}

static int16_t check_user_name(sb_slice_t name, char *out, size_t cap, char *msg, size_t msgcap)
{
    if (name.len <= 0) {
        snprintf(msg, msgcap, "Username must not be empty");
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    if (!cred_user_name_valid((const char *)name.p, (size_t)name.len) || memchr(name.p, 0, (size_t)name.len) ||
        (size_t)name.len >= cap) {
        snprintf(msg, msgcap, "Username must be 1..%d bytes without control characters", SCRAM_MAX_USER);
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    memcpy(out, name.p, (size_t)name.len);
    out[name.len] = 0;
    return KAFKA_ERR_NONE;
}

int handle_DescribeUserScramCredentials(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    cred_store_t *st = broker_cred_store(b);
    int32_t n = sb_rd_array(rd, true, 2);
    if (!sb_rd_ok(rd)) return -1;
    sb_slice_t *names = n > 0 ? calloc((size_t)n, sizeof(*names)) : NULL;
    if (n > 0 && !names) return -1;
    for (int32_t i = 0; i < n; i++) {
        names[i] = sb_rd_compact_string(rd);
        sb_rd_tags(rd);
    }
    sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) {
        free(names);
        return -1;
    }
    /* Kafka's rule: DESCRIBE on the cluster (checked, counted and audited as any other). */
    if (!broker_authorize_cluster(b, req, ACL_OP_DESCRIBE)) {
        const char *why = "DESCRIBE on the cluster is needed to describe SCRAM credentials";
        sb_wr_i32(resp, 0); /* throttle_time_ms */
        sb_wr_i16(resp, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
        sb_wr_str(resp, true, why);
        sb_wr_array(resp, true, n > 0 ? n : 0);
        for (int32_t i = 0; i < n; i++) {
            sb_wr_strn(resp, true, names[i].p, names[i].len < 0 ? 0 : names[i].len);
            sb_wr_i16(resp, KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED);
            sb_wr_str(resp, true, why);
            sb_wr_array(resp, true, 0);
            sb_wr_tags(resp, true);
        }
        sb_wr_tags(resp, true);
        free(names);
        return KAFKA_HANDLER_DONE;
    }
    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_i16(resp, KAFKA_ERR_NONE);
    sb_wr_str(resp, true, NULL);
    if (n <= 0) {
        all_users_t all = {0};
        int rc = st ? cred_store_list(st, collect_users_cb, &all) : 0;
        sb_wr_array(resp, true, rc == 0 ? all.n : 0);
        for (int32_t i = 0; rc == 0 && i < all.n; i++) {
            infos_t in = {0};
            void *a[2] = {all.names[i], &in};
            cred_store_list(st, user_infos_cb, a);
            write_user_result(resp, all.names[i], KAFKA_ERR_NONE, NULL, &in);
        }
        for (int32_t i = 0; i < all.n; i++) free(all.names[i]);
        free(all.names);
    } else {
        sb_wr_array(resp, true, n);
        for (int32_t i = 0; i < n; i++) {
            char user[SCRAM_MAX_USER + 1], msg[160];
            int16_t e = check_user_name(names[i], user, sizeof(user), msg, sizeof(msg));
            bool dup = false;
            for (int32_t j = 0; j < n && !e; j++)
                if (j != i && names[j].len == names[i].len && memcmp(names[j].p, names[i].p, (size_t)names[i].len) == 0)
                    dup = true;
            infos_t in = {0};
            if (!e && dup) {
                e = KAFKA_ERR_DUPLICATE_RESOURCE;
                snprintf(msg, sizeof(msg), "Cannot describe SCRAM credentials for the same user twice in a single request");
            } else if (!e) {
                void *a[2] = {user, &in};
                if (st) cred_store_list(st, user_infos_cb, a);
                if (in.n == 0) {
                    e = KAFKA_ERR_RESOURCE_NOT_FOUND;
                    snprintf(msg, sizeof(msg), "Attempt to describe a user credential that does not exist");
                }
            }
            if (e) {
                /* The name as the client sent it (it may be invalid as a user name). */
                sb_wr_strn(resp, true, names[i].p, names[i].len < 0 ? 0 : names[i].len);
                sb_wr_i16(resp, e);
                sb_wr_str(resp, true, msg);
                sb_wr_array(resp, true, 0);
                sb_wr_tags(resp, true);
            } else {
                write_user_result(resp, user, KAFKA_ERR_NONE, NULL, &in);
            }
        }
    }
    sb_wr_tags(resp, true);
    free(names);
    return KAFKA_HANDLER_DONE;
}

/* ---- AlterUserScramCredentials (key 51, v0, flexible) ---- */

typedef struct alter_op {
    sb_slice_t name;
    int8_t mechanism;
    bool upsert;
    int32_t iterations;
    sb_slice_t salt;
    sb_slice_t salted_password;
} alter_op_t;

static bool slice_eq(sb_slice_t a, sb_slice_t b)
{
    return a.len == b.len && (a.len <= 0 || memcmp(a.p, b.p, (size_t)a.len) == 0);
}

/* Validates one operation; KAFKA_ERR_NONE or the error with msg. */
static int16_t check_op(broker_t *b, const alter_op_t *op, char *user, size_t ucap, char *msg, size_t cap)
{
    int16_t e = check_user_name(op->name, user, ucap, msg, cap);
    if (e) return e;
    scram_mechanism_t m;
    if (scram_mechanism_from_kafka_id(op->mechanism, &m) != 0) {
        snprintf(msg, cap, "Unknown SCRAM mechanism %d", op->mechanism);
        return KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM;
    }
    if (!op->upsert) {
        scram_credential_t c;
        if (cred_store_get(broker_cred_store(b), user, m, &c) != 0) {
            snprintf(msg, cap, "Attempt to delete a user credential that does not exist");
            return KAFKA_ERR_RESOURCE_NOT_FOUND;
        }
        return KAFKA_ERR_NONE;
    }
    if (op->iterations < SCRAM_MIN_ITERATIONS) {
        snprintf(msg, cap, "Too few iterations: %d (at least %d)", op->iterations, SCRAM_MIN_ITERATIONS);
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    if (op->iterations > SCRAM_MAX_ITERATIONS) {
        snprintf(msg, cap, "Too many iterations: %d (at most %d)", op->iterations, SCRAM_MAX_ITERATIONS);
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    if (op->salt.len <= 0 || op->salt.len > SCRAM_MAX_SALT) {
        snprintf(msg, cap, "Salt must be 1..%d bytes", SCRAM_MAX_SALT);
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    if (op->salted_password.len != (int32_t)scram_hash_len(m)) {
        snprintf(msg, cap, "Salted password must be %zu bytes for %s", scram_hash_len(m), scram_mechanism_name(m));
        return KAFKA_ERR_UNACCEPTABLE_CREDENTIAL;
    }
    return KAFKA_ERR_NONE;
}

int handle_AlterUserScramCredentials(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    sb_rd_t *rd = &req->body;
    int32_t nd = sb_rd_array(rd, true, 3);
    if (!sb_rd_ok(rd) || nd < 0) return -1;
    alter_op_t *ops = NULL;
    int32_t nops = 0;
    sb_rd_t save = *rd;
    /* Count first to size the array (the reader bounds each count by the bytes left). */
    for (int32_t i = 0; i < nd; i++) {
        sb_rd_compact_string(rd);
        sb_rd_i8(rd);
        sb_rd_tags(rd);
    }
    int32_t nu = sb_rd_array(rd, true, 9);
    if (!sb_rd_ok(rd) || nu < 0) return -1;
    ops = calloc((size_t)nd + (size_t)nu + 1, sizeof(*ops));
    if (!ops) return -1;
    *rd = save;
    for (int32_t i = 0; i < nd; i++) {
        ops[nops].name = sb_rd_compact_string(rd);
        ops[nops].mechanism = sb_rd_i8(rd);
        sb_rd_tags(rd);
        nops++;
    }
    sb_rd_array(rd, true, 9);
    for (int32_t i = 0; i < nu; i++) {
        alter_op_t *op = &ops[nops++];
        op->upsert = true;
        op->name = sb_rd_compact_string(rd);
        op->mechanism = sb_rd_i8(rd);
        op->iterations = sb_rd_i32(rd);
        op->salt = sb_rd_compact_bytes(rd);
        op->salted_password = sb_rd_compact_bytes(rd);
        sb_rd_tags(rd);
    }
    sb_rd_tags(rd);
    if (!sb_rd_ok(rd)) {
        free(ops);
        return -1;
    }

    /* One result per distinct user, in order of first appearance. A user's operations apply
     * only when all of them are valid (Kafka checks the whole user first). */
    int32_t nusers = 0;
    for (int32_t i = 0; i < nops; i++) {
        bool seen = false;
        for (int32_t j = 0; j < i && !seen; j++) seen = slice_eq(ops[j].name, ops[i].name);
        if (!seen) nusers++;
    }
    /* Kafka's rule: ALTER on the cluster; without it every user's result is the refusal. */
    bool allowed = broker_authorize_cluster(b, req, ACL_OP_ALTER);
    sb_wr_i32(resp, 0); /* throttle_time_ms */
    sb_wr_array(resp, true, nusers);
    for (int32_t i = 0; i < nops; i++) {
        bool seen = false;
        for (int32_t j = 0; j < i && !seen; j++) seen = slice_eq(ops[j].name, ops[i].name);
        if (seen) continue;
        char user[SCRAM_MAX_USER + 1] = "", msg[200] = "";
        int16_t e = KAFKA_ERR_NONE;
        if (!allowed) {
            e = KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED;
            snprintf(msg, sizeof(msg), "ALTER on the cluster is needed to change SCRAM credentials");
        }
        for (int32_t j = i; j < nops && !e; j++) {
            if (!slice_eq(ops[j].name, ops[i].name)) continue;
            for (int32_t k = i; k < j && !e; k++)
                if (slice_eq(ops[k].name, ops[i].name) && ops[k].mechanism == ops[j].mechanism) {
                    e = KAFKA_ERR_DUPLICATE_RESOURCE;
                    snprintf(msg, sizeof(msg), "A user credential cannot be altered twice in the same request");
                }
            if (!e) e = check_op(b, &ops[j], user, sizeof(user), msg, sizeof(msg));
        }
        for (int32_t j = i; j < nops && !e; j++) {
            if (!slice_eq(ops[j].name, ops[i].name)) continue;
            scram_mechanism_t m;
            scram_mechanism_from_kafka_id(ops[j].mechanism, &m);
            sb_err_t err = {0};
            int rc;
            if (ops[j].upsert) {
                scram_credential_t c;
                rc = scram_credential_from_salted(m, ops[j].salted_password.p, ops[j].salt.p,
                                                  (size_t)ops[j].salt.len, ops[j].iterations, &c);
                if (rc == 0) rc = cred_store_put(broker_cred_store(b), user, &c, &err);
            } else {
                rc = cred_store_remove(broker_cred_store(b), user, m, &err);
            }
            if (rc != 0) {
                sb_warn("sasl", "AlterUserScramCredentials for \"%s\" failed: %s", user, err.msg);
                e = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
                snprintf(msg, sizeof(msg), "The credential store could not be updated");
            } else {
                sb_info("sasl", "SCRAM credential %s for \"%s\" %s", scram_mechanism_name(m), user,
                        ops[j].upsert ? "set" : "deleted");
            }
        }
        sb_wr_strn(resp, true, ops[i].name.p, ops[i].name.len < 0 ? 0 : ops[i].name.len);
        sb_wr_i16(resp, e);
        sb_wr_str(resp, true, e ? msg : NULL);
        sb_wr_tags(resp, true);
    }
    sb_wr_tags(resp, true);
    free(ops);
    return KAFKA_HANDLER_DONE;
}
