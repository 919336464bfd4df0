/* `streambus ctl`: reads the environment, parses, runs, and turns the outcome into an exit
 * status: 0 success, 1 the cluster reported an error or could not be reached, 2 usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/roles.h"
#include "ctl/certs_cmd.h"
#include "ctl/connector_cmds.h"
#include "ctl/ctl.h"

int ctl_main(int argc, char **argv)
{
    /* The connect runtime's commands (connector, dlq, offsets, reconcile) talk to its REST
     * API, not to the cluster. */
    if (ctl_connector_handles(argc, argv)) return ctl_connector_main(argc, argv);
    /* Certificates are made locally; no cluster is involved. */
    if (ctl_certs_handles(argc, argv)) return ctl_certs_main(argc, argv);
    ctl_args_t args;
    sb_err_t err = {0};
    if (ctl_args_parse(argc, argv, getenv("STREAMBUS_BOOTSTRAP"), &args, &err) != 0) {
        fprintf(stderr, "streambus ctl: %s\n", err.msg);
        return 2;
    }
    int rc = ctl_run(&args, stdout, stderr, &err);
    ctl_args_deinit(&args);
    if (rc != 0) {
        fprintf(stderr, "streambus ctl: %s\n", err.msg);
        /* A bad -X property is the user's mistake, found only when the client is built. */
        return rc == SB_EINVAL ? 2 : 1;
    }
    return 0;
}
