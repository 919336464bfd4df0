#include "common/dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/buf.h"

struct sb_dir_lock {
    int fd;
};

int sb_dir_lock_parse(const void *data, size_t len, pid_t *pid, char *owner, size_t cap)
{
    sb_rd_t rd;
    sb_rd_init(&rd, data, len);
    long long value = 0;
    int digits = 0;
    const uint8_t *c;
    while ((c = sb_rd_bytes(&rd, 1)) != NULL && *c != '\n') {
        if (*c < '0' || *c > '9' || ++digits > 10) return SB_EINVAL;
        value = value * 10 + (*c - '0');
    }
    if (!c || digits == 0 || value <= 0 || value > INT_MAX) return SB_EINVAL;
    size_t n = 0, kept = 0;
    while ((c = sb_rd_bytes(&rd, 1)) != NULL && *c != '\n') {
        if (*c < 0x20 || *c > 0x7e) return SB_EINVAL; /* it goes into a message on a terminal */
        if (kept + 1 < cap) owner[kept++] = (char)*c;
        n++;
    }
    if (!c || n == 0) return SB_EINVAL;
    if (cap) owner[kept] = '\0';
    *pid = (pid_t)value;
    return 0;
}

/* Who holds the lock on fd's file, as the file says: fills in the message. */
static int refuse(int fd, const char *dir, pid_t *holder, sb_err_t *err)
{
    char text[256], owner[128];
    pid_t pid = 0;
    ssize_t n;
    while ((n = pread(fd, text, sizeof(text), 0)) < 0 && errno == EINTR) {
    }
    if (n > 0 && sb_dir_lock_parse(text, (size_t)n, &pid, owner, sizeof(owner)) == 0) {
        if (holder) *holder = pid;
        return sb_err_set(err, SB_EEXIST, "data dir %s is in use by %s (pid %d)", dir, owner,
                          (int)pid);
    }
    /* The holder has only just taken the lock and not yet written its name. */
    if (holder) *holder = 0;
    return sb_err_set(err, SB_EEXIST, "data dir %s is in use by another process (it holds %s/%s)",
                      dir, dir, SB_DIR_LOCK_FILE);
}

int sb_dir_lock_new(const char *dir, const char *owner, sb_dir_lock_t **out, pid_t *holder,
                    sb_err_t *err)
{
    char path[PATH_MAX];
    if (holder) *holder = 0;
    if (snprintf(path, sizeof(path), "%s/%s", dir, SB_DIR_LOCK_FILE) >= (int)sizeof(path))
        return sb_err_set(err, SB_EINVAL, "data dir path too long: %s", dir);
    /* O_NOFOLLOW: a symlink planted as .lock must not make us truncate another file. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return sb_err_set(err, SB_EIO, "cannot lock data dir %s: open %s: %s", dir, path,
                          strerror(errno));
    int rc;
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (rc != 0) {
        int e = errno;
        rc = e == EWOULDBLOCK ? refuse(fd, dir, holder, err)
                              : sb_err_set(err, SB_EIO, "cannot lock data dir %s: flock %s: %s",
                                           dir, path, strerror(e));
        close(fd);
        return rc;
    }
    /* Ours now: say who we are. Not fsync'ed: after a crash the lock is gone anyway, and the
     * next holder rewrites the file. */
    char text[160];
    int len = snprintf(text, sizeof(text), "%d\n%.120s\n", (int)getpid(), owner);
    ssize_t wrote = ftruncate(fd, 0) == 0 ? pwrite(fd, text, (size_t)len, 0) : -1;
    if (wrote != len) {
        rc = sb_err_set(err, SB_EIO, "cannot lock data dir %s: write %s: %s", dir, path,
                        wrote < 0 ? strerror(errno) : "short write");
        close(fd);
        return rc;
    }
    sb_dir_lock_t *l = malloc(sizeof(*l));
    if (!l) {
        close(fd);
        return sb_err_set(err, SB_ENOMEM, "out of memory");
    }
    l->fd = fd;
    *out = l;
    return 0;
}

void sb_dir_lock_free(sb_dir_lock_t *lock)
{
    if (!lock) return;
    close(lock->fd); /* drops the flock */
    free(lock);
}
