#include "common/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fsync_dir_of(const char *path, sb_err_t *err)
{
    char dir[PATH_MAX];
    if (snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir))
        return sb_err_set(err, SB_EINVAL, "path too long: %s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return sb_err_set(err, SB_EIO, "open %s: %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0) rc = sb_err_set(err, SB_EIO, "fsync %s: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static int write_atomic(const char *path, const void *data, size_t len, mode_t mode, sb_err_t *err)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return sb_err_set(err, SB_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return sb_err_set(err, SB_EIO, "cannot write %s: %s", tmp, strerror(errno));
    /* A .tmp left by a crash keeps its old mode through O_TRUNC: set it before any byte. */
    if (fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return sb_err_set(err, SB_EIO, "cannot chmod %s: %s", tmp, strerror(e));
    }
    const char *p = data;
    size_t done = 0;
    int rc = 0;
    while (done < len) {
        ssize_t n = write(fd, p + done, len - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            rc = sb_err_set(err, SB_EIO, "cannot write %s: %s", tmp,
                            n < 0 ? strerror(errno) : "short write");
            break;
        }
        done += (size_t)n;
    }
    if (rc == 0 && fdatasync(fd) != 0)
        rc = sb_err_set(err, SB_EIO, "fdatasync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = sb_err_set(err, SB_EIO, "close %s: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = sb_err_set(err, SB_EIO, "rename %s: %s", tmp, strerror(errno));
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_dir_of(path, err);
}

int sb_write_file_atomic(const char *path, const void *data, size_t len, sb_err_t *err)
{
    return write_atomic(path, data, len, 0644, err);
}

int sb_write_file_atomic_private(const char *path, const void *data, size_t len, sb_err_t *err)
{
    return write_atomic(path, data, len, 0600, err);
}

int sb_mkdir_durable(const char *path, sb_err_t *err)
{
    if (mkdir(path, 0755) == 0) return fsync_dir_of(path, err);
    if (errno == EEXIST) return 0;
    return sb_err_set(err, SB_EIO, "cannot create %s: %s", path, strerror(errno));
}
