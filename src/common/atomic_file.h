#ifndef STREAMBUS_COMMON_ATOMIC_FILE_H
#define STREAMBUS_COMMON_ATOMIC_FILE_H

/* Replacing a small file so that a crash at any moment leaves either the old or the new
 * contents, and a completed call survives power loss: write `<path>.tmp`, fdatasync it,
 * rename it over `path`, then fsync the directory so the rename itself is durable. Callers
 * that list the directory should skip names ending in ".tmp" (a crash can leave one). */

#include <stddef.h>

#include "common/err.h"

int sb_write_file_atomic(const char *path, const void *data, size_t len, sb_err_t *err);
/* The same for a file of secrets or password hashes: readable by its owner only (0600). */
int sb_write_file_atomic_private(const char *path, const void *data, size_t len, sb_err_t *err);

/* mkdir that survives power loss: when the directory is new, its parent is fsync'ed so that
 * the entry itself is on disk. An existing directory is fine. */
int sb_mkdir_durable(const char *path, sb_err_t *err);

#endif
