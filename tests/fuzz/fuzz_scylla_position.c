/* Fuzz driver for the scylla-source checkpoint parsers (scylla_cdc.h): the position text the
 * runtime stores and an operator may restore (`PUT /connectors/{name}/offsets`). The input is
 * the text (not NUL-terminated by the fuzzer: it is copied). Besides not crashing, a position
 * that parses must survive a round trip: written back and parsed again it gives the same
 * entries, so a restart resumes exactly where the stored position says. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "connect/sources/scylla_cdc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = '\0';

    scylla_pos_entry_t *e = NULL;
    int n = 0;
    sb_err_t err = {0};
    if (scylla_pos_parse(text, &e, &n, &err) == 0) {
        if (n < 0) abort();
        sb_wr_t w;
        sb_wr_init(&w, 256);
        scylla_pos_write(&w, e, n);
        sb_wr_bytes(&w, "", 1);
        if (!w.oom) {
            scylla_pos_entry_t *again = NULL;
            int n2 = 0;
            if (scylla_pos_parse((const char *)w.buf, &again, &n2, &err) != 0 || n2 != n) abort();
            for (int i = 0; i < n; i++)
                if (strcmp(e[i].table, again[i].table) || e[i].gen_ms != again[i].gen_ms || e[i].key != again[i].key ||
                    e[i].final_ms != again[i].final_ms || strcmp(e[i].last, again[i].last))
                    abort();
            free(again);
        }
        sb_wr_deinit(&w);
    }
    free(e);

    int64_t start_ms;
    int done, units;
    int rc = scylla_pos_snapshot(text, &start_ms, &done, &units, &err);
    if (rc == 1 && (done < 0 || units < 0 || done > units)) abort();
    free(text);
    return 0;
}
