#ifndef STREAMBUS_UP_STACK_H
#define STREAMBUS_UP_STACK_H

/* The one-machine development stack that `streambus up` runs: a local PostgreSQL 15 under the
 * data directory (unless a conninfo names one), the broker and the connect runtime (children
 * of this same binary), and a demo pipeline with a little traffic. The children are watched by
 * the supervisor (supervisor.h): one that exits is reported and restarted; see docs/up.md. */

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "up/supervisor.h"

typedef struct up_stack_opts {
    char data_dir[PATH_MAX];
    char postgres[1024]; /* "" = start our own */
    int broker_port, broker_admin_port, rest_port, pg_port, jobs_port;
    bool demo;
    sv_policy_t policy;
} up_stack_opts_t;

/* Defaults: data dir "data", ports 9092, 8080, 8083, 5433, 8090 (jobs API), the demo on, sv_policy_default(). */
void up_stack_opts_default(up_stack_opts_t *o);

/* Runs the stack until *stop becomes non-zero (Ctrl-C) or a child fails for good, then stops
 * everything it started, in reverse order. self is the path of the streambus executable the
 * children run. Returns the process exit code: 0 after a requested stop, 1 on a failure (told
 * on stderr with the child's name and the tail of its log). */
int up_stack_run(up_stack_opts_t *o, const char *self, volatile sig_atomic_t *stop);

/* Before PostgreSQL starts on pgdata: a postmaster.pid left by a server that was killed
 * (power loss, kill -9) whose pid now belongs to a live process that is not a PostgreSQL
 * server makes PostgreSQL refuse to start ("lock file already exists"), although no server
 * runs. That file is removed (and said on report). A pid that is dead is left to PostgreSQL,
 * which ignores it itself; a live PostgreSQL is left alone. Returns 1 when it removed the
 * file, 0 when it did nothing, a negative errno when it could not remove it. */
int up_pg_clear_stale_pid(const char *pgdata, FILE *report);

#endif
