#ifndef STREAMBUS_CTL_RECONCILE_CMD_H
#define STREAMBUS_CTL_RECONCILE_CMD_H

/* `streambus ctl reconcile --connector C (--tables T1,T2 | --all-tables) [--mode count|checksum|full]
 *  [--repair] [--no-wait] [--url URL]`: starts a reconciliation job through the connect REST API
 * and (unless --no-wait) polls it until it ends, then prints the job as JSON.
 * Exit status: 0 the job finished and found no drift (or repaired what it found), 3 drift found
 * and not repaired, 1 the job failed or the API could not be reached, 2 usage. */

/* argv[0] is "ctl", argv[1] "reconcile". */
int ctl_reconcile_main(int argc, char **argv);

#endif
