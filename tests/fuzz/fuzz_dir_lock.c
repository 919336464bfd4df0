/* Fuzz driver for the data-directory lock file's parser (src/common/dir_lock.c): the file is
 * read when the lock is refused, and whatever another process left in it goes into a message. */
#include <stdint.h>
#include <string.h>

#include "common/dir_lock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pid_t pid;
    char owner[32];
    if (sb_dir_lock_parse(data, size, &pid, owner, sizeof(owner)) == 0 &&
        (pid <= 0 || strlen(owner) >= sizeof(owner)))
        __builtin_trap();
    char tiny[1];
    sb_dir_lock_parse(data, size, &pid, tiny, sizeof(tiny));
    return 0;
}
