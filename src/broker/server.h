#ifndef STREAMBUS_BROKER_SERVER_H
#define STREAMBUS_BROKER_SERVER_H

/* Broker life cycle: create (open data dir, recover logs, bind), run the network loop on the
 * calling thread until stopped, free. */

#include "broker/broker.h"
#include "broker/options.h"

struct metrics_registry;

/* Opens the data directory (recovering every partition log), starts the flusher thread and
 * binds the Kafka listener. `metrics` may be NULL; it is borrowed. */
int broker_new(const broker_options_t *opt, struct metrics_registry *metrics, broker_t **out, sb_err_t *err);
/* Runs the network loop until broker_stop(); returns 0 on a clean stop. */
int broker_run(broker_t *b);
/* Asks the loop to stop. Safe from a signal handler and from any thread. */
void broker_stop(broker_t *b);
/* Flushes and closes everything. NULL is accepted. */
void broker_free(broker_t *b);
/* The bound port of the first Kafka listener (useful with listen port 0). */
int32_t broker_port(const broker_t *b);
int broker_listener_count(const broker_t *b);
/* The bound port of the listener with this name (case-insensitive); -1 when there is none. */
int32_t broker_listener_port(const broker_t *b, const char *name);
/* Asks the loop to reload every TLS listener's certificate and key (SIGHUP). Safe from a
 * signal handler and from any thread. */
void broker_request_tls_reload(broker_t *b);
/* True once start-up finished and the loop is serving (read from any thread). */
bool broker_ready(const broker_t *b);

#endif
