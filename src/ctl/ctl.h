#ifndef STREAMBUS_CTL_CTL_H
#define STREAMBUS_CTL_CTL_H

/* `streambus ctl`: operator commands for topics and consumer groups, spoken over the Kafka
 * admin protocol through librdkafka's public API, so the same binary manages StreamBus and
 * any Kafka cluster. */

#include <stdio.h>

#include "common/err.h"
#include "ctl/ctl_args.h"

/* Runs the command described by args (anything but CTL_CMD_HELP). The result goes to out as
 * a table or JSON; non-fatal warnings (e.g. configs the cluster would not describe) go to
 * errout. Returns 0, or a negative SB_E* code with a one-line message in err naming what
 * failed and, for errors the cluster reported, the Kafka error name in parentheses. */
int ctl_run(const ctl_args_t *args, FILE *out, FILE *errout, sb_err_t *err);

#endif
