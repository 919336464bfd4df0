#ifndef STREAMBUS_BROKER_HANDLERS_SASL_INT_H
#define STREAMBUS_BROKER_HANDLERS_SASL_INT_H

/* The broker's SASL layer (handlers/sasl.c), between the dispatcher and src/security/. The
 * dispatcher keeps one sasl_conn_t per connection (in the connection's security context) and
 * describes the connection with a broker_conn_info_t; nothing here touches a socket. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/broker.h"
#include "common/buf.h"
#include "common/err.h"
#include "security/credentials.h"
#include "security/sasl.h"

typedef struct broker_sasl broker_sasl_t;

typedef enum {
    SASL_CONN_NEW = 0,       /* nothing yet: only ApiVersions and SaslHandshake are accepted */
    SASL_CONN_HANDSHAKEN,    /* SaslHandshake v1 done: SaslAuthenticate requests carry the tokens */
    SASL_CONN_RAW,           /* SaslHandshake v0 done: the next frames are bare SASL tokens */
    SASL_CONN_AUTHENTICATED, /* principal set; may re-authenticate (KIP-368) */
    SASL_CONN_FAILED,        /* authentication failed: the next request closes the connection */
} sasl_conn_state_t;

typedef struct sasl_conn {
    sasl_conn_state_t state;
    sasl_mechanism_t mechanism;
    sasl_session_t *session; /* the exchange in progress */
    bool reauth;             /* this exchange re-authenticates an authenticated connection */
    char user[SCRAM_MAX_USER + 1];
    int64_t expires_mono_ms; /* end of the session (monotonic); 0 = never */
} sasl_conn_t;

/* What the SASL layer needs to know about a connection. */
typedef struct broker_conn_info {
    bool sasl_listener; /* SASL_PLAINTEXT or SASL_SSL */
    bool encrypted;     /* TLS */
    const char *peer;   /* "ip:port", for logs */
    const char *host;   /* the address failures are counted against */
} broker_conn_info_t;

typedef struct sasl_auth_result {
    int16_t error;       /* KAFKA_ERR_* */
    char message[200];   /* error message for the client; empty on success */
    uint8_t *out;        /* server's auth bytes (malloc'd, may be NULL) */
    size_t out_len;
    int64_t session_lifetime_ms;
    bool authenticated;
    int64_t delay_ms; /* answer this late (a failure) */
} sasl_auth_result_t;

/* A failure answer held back by sasl.failed_authentication_delay_ms; release() sends it. */
typedef struct delayed_failure delayed_failure_t;
struct delayed_failure {
    delayed_failure_t *next;
    int64_t due_ms;
    void (*release)(broker_t *b, delayed_failure_t *d);
};

/* Start-up: opens <data_dir>/.security/ and reads the sasl options. */
int broker_sasl_init(broker_t *b, sb_err_t *err);
void broker_sasl_free(broker_t *b);
cred_store_t *broker_cred_store(broker_t *b);

/* Frees a sasl_conn_t (the net layer's sasl_free callback). */
void sasl_conn_free(void *sc);

/* SaslHandshake: writes the response body (error code + enabled mechanisms). */
int broker_sasl_handshake(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, int16_t version,
                          sb_slice_t mech_name, sb_wr_t *resp);
/* One SASL token (SaslAuthenticate's auth_bytes or a bare v0 frame): fills res. */
int broker_sasl_authenticate(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, const uint8_t *in,
                             size_t in_len, sasl_auth_result_t *res);
/* The dispatcher's gate: 0 when the request may proceed, -1 (why filled) when the connection
 * must be closed. sc may be NULL (no SASL state yet). */
int broker_sasl_gate(broker_t *b, sasl_conn_t *sc, const broker_conn_info_t *ci, int16_t api_key, char *why,
                     size_t cap);
bool broker_sasl_address_blocked(broker_t *b, const char *host);

/* The dispatcher's two hooks. broker_sasl_raw_frame: a frame that is a bare SASL token
 * (after SaslHandshake v0) is consumed here (returns 1; -1 when the connection was closed);
 * 0 means a Kafka request. broker_sasl_check: 0 when the request may run on this connection,
 * -1 after closing it (SASL listener, not authenticated, session expired, address refused). */
int broker_sasl_raw_frame(broker_t *b, conn_t *c, uint8_t *frame, size_t len);
int broker_sasl_check(broker_t *b, conn_t *c, int16_t api_key);

/* Delayed failure answers: queue one, release those due, the next due time (-1: none). */
void broker_sasl_delay(broker_t *b, delayed_failure_t *d);
void broker_sasl_poll(broker_t *b, int64_t now_ms);
int64_t broker_sasl_next_deadline(broker_t *b);
void broker_sasl_delayed_free_all(broker_t *b);

#endif
