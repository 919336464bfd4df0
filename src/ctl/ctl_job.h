#ifndef STREAMBUS_CTL_CTL_JOB_H
#define STREAMBUS_CTL_CTL_JOB_H

/* `streambus ctl job ...`: the job orchestrator's REST API (docs/jobs.md) from the command line.
 *   job submit (--file F.json | --json TEXT)   one job, or {"jobs":[...]} for a batch
 *   job list [--status S] [--type T] [--queue Q] [--limit N] [--cursor C]
 *   job show ID | cancel ID | retry ID
 *   job logs ID                                the job's transitions, one line each
 * Options anywhere after `ctl`: --url (default $STREAMBUS_JOBS_URL or http://127.0.0.1:8090),
 * --token (default $STREAMBUS_JOBS_TOKEN) or --user U (password from $STREAMBUS_JOBS_PASSWORD,
 * logged in for this one command), --timeout-ms N, --output table|json (list and logs print a
 * table unless json; the rest prints the API's JSON). */

#include <stdbool.h>

/* True when the first word after `ctl` that is not an option is `job` or `jobs`. */
bool ctl_job_handles(int argc, char **argv);
/* Runs the command; argv[0] is "ctl". Exit code: 0, 1 the API refused or was unreachable, 2 usage.
 */
int ctl_job_main(int argc, char **argv);

#endif
