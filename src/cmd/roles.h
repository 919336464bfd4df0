#ifndef STREAMBUS_CMD_ROLES_H
#define STREAMBUS_CMD_ROLES_H

/* Entry point of each role. argv[0] is the role name ("broker", "ctl"); return the exit code. */
int broker_main(int argc, char **argv);
int ctl_main(int argc, char **argv);
int connect_main(int argc, char **argv);
int up_main(int argc, char **argv);
int jobs_main(int argc, char **argv);

#endif
