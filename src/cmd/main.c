/* streambus: one executable, several roles (git-style subcommands). Invoked as
 * "streambus-broker" it behaves as "streambus broker". */
#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "cmd/roles.h"
#include "version.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: streambus <command> [options]\n\n"
                 "commands:\n"
                 "  broker     run the Kafka-compatible log broker (also: streambus-broker)\n"
                 "  connect    run the connector runtime (change-data capture, sinks, REST API on 8083)\n"
                 "  jobs       the job orchestrator: REST API + scheduler on 8090; 'jobs worker --id W' runs a worker\n"
                 "  ctl        operator CLI: topics, groups, connectors (works against any Kafka cluster)\n"
                 "  up         the one-machine dev stack: broker, connect, PostgreSQL and a demo pipeline\n"
                 "  version    print the version\n\n"
                 "Run 'streambus <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    const char *self = basename(argv[0]);
    if (strcmp(self, "streambus-broker") == 0) return broker_main(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("streambus %s\n", STREAMBUS_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "broker") == 0) return broker_main(argc - 1, argv + 1);
    if (strcmp(cmd, "ctl") == 0) return ctl_main(argc - 1, argv + 1);
    if (strcmp(cmd, "connect") == 0) return connect_main(argc - 1, argv + 1);
    if (strcmp(cmd, "jobs") == 0) return jobs_main(argc - 1, argv + 1);
    if (strcmp(cmd, "up") == 0) return up_main(argc - 1, argv + 1);
    fprintf(stderr, "streambus: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
