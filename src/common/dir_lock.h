#ifndef STREAMBUS_COMMON_DIR_LOCK_H
#define STREAMBUS_COMMON_DIR_LOCK_H

/* One process at a time per data directory. Two brokers appending to the same partition
 * logs, or two `streambus up` rewriting each other's configs, corrupt data without a word;
 * every role that owns a directory takes this lock before it reads or writes anything there.
 *
 * The lock is flock(2) on `<dir>/.lock`, held by an open file description for the life of the
 * process. The kernel drops it when the process dies in any way (kill -9, a crash; after a
 * power loss nothing holds it), so a stale lock can never block the next start: the file may
 * stay behind, it is the flock that counts. The file also says who holds the lock (pid and
 * owner, e.g. "streambus up"), for the refusal message only; it is never trusted to decide.
 *
 * The descriptor is close-on-exec: children that exec another program do not hold the lock;
 * a forked child that does not exec shares it until it exits. Local file systems only (flock
 * over NFS is emulated with fcntl locks, with their caveats). */

#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"

typedef struct sb_dir_lock sb_dir_lock_t;

/* The lock file's name inside the directory. */
#define SB_DIR_LOCK_FILE ".lock"

/* Locks dir, which must exist, for owner (a short name such as "streambus broker"), without
 * waiting. Returns 0 with *out set; SB_EEXIST when another process holds the lock, with
 * "data dir DIR is in use by OWNER (pid N)" in err (the holder as its lock file names it,
 * "another process" when the file does not say) and its pid in *holder when holder is not
 * NULL (0 when unknown); SB_EIO when the lock file cannot be opened, locked or written. */
int sb_dir_lock_new(const char *dir, const char *owner, sb_dir_lock_t **out, pid_t *holder,
                    sb_err_t *err);

/* Releases the lock (NULL is fine). The file stays; see above. */
void sb_dir_lock_free(sb_dir_lock_t *lock);

/* Parses the contents of a lock file, "PID\nOWNER\n", as written by sb_dir_lock_new: 0 with
 * the pid and the owner (cut to cap - 1 bytes, printable ASCII only); SB_EINVAL when the
 * bytes are not such a file (empty: its holder has not written it yet). Exposed for the fuzz
 * driver and the unit test. */
int sb_dir_lock_parse(const void *data, size_t len, pid_t *pid, char *owner, size_t cap);

#endif
