#ifndef STREAMBUS_CTL_CONNECTOR_CMDS_H
#define STREAMBUS_CTL_CONNECTOR_CMDS_H

/* `streambus ctl connector|dlq|offsets ...`: the connect runtime's operations, spoken to its
 * REST API (--url, default $STREAMBUS_CONNECT_URL or http://127.0.0.1:8083):
 *   connector list | create NAME (--config FILE | --set k=v ...) | config NAME | status NAME
 *             | pause NAME | resume NAME | restart NAME | delete NAME
 *   dlq list --connector C [--limit N] [--from-offset N]
 *   dlq replay --connector C (--ids P:O[,P:O...] | --from-offset N [--to-offset M])
 *   offsets export [--file F]      every source's position as JSON (stdout by default)
 *   offsets import --file F        restore positions written by export
 * Output is JSON (what the API answered), except `connector list`, which prints a table of
 * name, type and state unless --output json (or --json) is given. The ctl global options
 * (--url, --timeout-ms, --output, and the unused --bootstrap-server and -X) may stand
 * anywhere, before the noun too; `reconcile` is dispatched from here as well. */

#include <stdbool.h>

/* True when the first word that is not a global option (or its value) names one of the nouns
 * above or `reconcile`. */
bool ctl_connector_handles(int argc, char **argv);
/* Runs the command; argv[0] is "ctl". Returns the exit code (0, 1 failure, 2 usage). */
int ctl_connector_main(int argc, char **argv);

#endif
