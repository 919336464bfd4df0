#ifndef STREAMBUS_NET_CONN_H
#define STREAMBUS_NET_CONN_H

/* One client connection of a net_loop: a read buffer cut into length-prefixed frames (a
 * 4-byte big-endian size, then the frame) and a queue of response slots that leave in the
 * order they were opened, whatever order they complete in. A slot's bytes are an sb_wr_t
 * whose spliced file ranges go out with sendfile(2) (zero copy).
 *
 * Everything here runs on the loop's thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "net/listener.h"

typedef struct net_conn net_conn_t;
typedef struct net_loop net_loop_t;

/* Principal of a connection nobody has authenticated, as Kafka names it. */
#define NET_PRINCIPAL_ANONYMOUS "User:ANONYMOUS"

/* What the dispatcher may consult to decide who is asking. The net layer fills protocol,
 * listener and peer at accept; principal starts as NET_PRINCIPAL_ANONYMOUS (TLS replaces it
 * with the client certificate's subject, SASL through net_conn_set_principal). `sasl` is a
 * slot for the SASL layer's per-connection state: the net layer never looks inside, and calls
 * sasl_free(sasl) when the connection is freed. */
typedef struct net_security {
    const char *principal;
    net_security_protocol_t protocol;
    const char *listener; /* name of the accepting listener; "" for adopted sockets */
    char peer[64];        /* "ip:port", for logs */
    char peer_host[48];   /* "/ip", as Kafka reports client hosts */
    void *sasl;
    void (*sasl_free)(void *sasl);
} net_security_t;

/* A response slot. Callers that need per-request data allocate a larger struct with this as its
 * first member through net_slot_new(); the net layer frees it (with free) once sent, or once
 * completed after its connection closed. */
typedef struct net_slot {
    net_conn_t *conn; /* NULL once the connection is gone (orphaned) */
    struct net_slot *next;
    bool done;
    sb_wr_t out; /* 4-byte size prefix + the frame */
    size_t sent; /* stream bytes already written to the socket */
} net_slot_t;

/* ---- connections ---- */

/* The connection's security context (never NULL); the dispatcher may change `sasl`/`sasl_free`
 * directly and the principal through net_conn_set_principal. */
net_security_t *net_conn_security(net_conn_t *c);
const net_security_t *net_conn_security_const(const net_conn_t *c);
/* Replaces the principal (copied). NULL resets it to NET_PRINCIPAL_ANONYMOUS. */
int net_conn_set_principal(net_conn_t *c, const char *principal);
uint64_t net_conn_id(const net_conn_t *c);
/* The listener that accepted the connection; NULL for adopted sockets. */
net_listener_t *net_conn_listener(const net_conn_t *c);
/* True once closed: the struct stays readable until the loop's round ends (or net_loop_reap). */
bool net_conn_closed(const net_conn_t *c);
/* Closes the connection; `reason` (may be NULL) is logged. Slots still in progress become
 * orphans that their completer frees. Idempotent. */
void net_conn_close(net_conn_t *c, const char *reason);
/* Writes as much of the completed head of the queue as the socket takes. */
void net_conn_flush(net_conn_t *c);

/* Registers an accepted, non-blocking socket as a connection of `loop` (tests and fuzz drivers
 * use it with a socketpair); `l` may be NULL (PLAINTEXT, no listener). Takes ownership of fd
 * on success only. */
int net_conn_adopt(net_loop_t *loop, int fd, net_listener_t *l, const char *host, const char *peer,
                   net_conn_t **out);

/* ---- response slots ---- */

/* Opens a zeroed slot of `size` bytes (>= sizeof(net_slot_t)) at the tail of c's queue, its
 * writer holding the 4-byte size placeholder. NULL when out of memory. */
net_slot_t *net_slot_new(net_conn_t *c, size_t size);
/* Finishes the slot (patches the size prefix) and sends what the queue order allows; an
 * orphaned slot is just freed. The slot must not be used afterwards. */
void net_slot_complete(net_slot_t *s);
/* Takes a slot that will never be answered out of its queue and frees it (e.g. Kafka's
 * Produce with acks=0), then lets the slots queued behind it go. */
void net_slot_drop(net_slot_t *s);
/* Marks a slot whose connection is about to be closed as finished, so that the close frees it
 * rather than leaving it for a completer that will never come. */
void net_slot_abandon(net_slot_t *s);
static inline bool net_slot_orphaned(const net_slot_t *s)
{
    return s->conn == NULL;
}

#endif
