/* Fuzz driver for the two outside inputs of cron schedules: the first byte chooses between a
 * TZif zone file (the rest is the file) and a cron expression (the rest is the text). A zone
 * that parses is asked for offsets and a next tick, so the transition table and the footer
 * rule are walked; cron_next must never return a tick at or before the instant it was given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jobs/cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1) {
        cron_tz_t *tz = NULL;
        if (cron_tz_parse(data + 1, size - 1, &tz, NULL) == 0) {
            static const int64_t probes[] = {-2147483648LL, 0, 1774745940, 2224749600,
                                             4102444800LL};
            cron_expr_t e;
            cron_parse("30 2 * * *", &e, NULL);
            for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
                int32_t off = cron_tz_offset(tz, probes[i]);
                if (off < -90000 || off > 93600) abort();
                int64_t next;
                if (cron_next(&e, tz, probes[i], &next) == 0 && next <= probes[i]) abort();
            }
            cron_tz_free(tz);
        }
        return 0;
    }
    char spec[256];
    size_t n = size - 1 < sizeof(spec) - 1 ? size - 1 : sizeof(spec) - 1;
    memcpy(spec, data + 1, n);
    spec[n] = 0;
    cron_expr_t e;
    if (cron_parse(spec, &e, NULL) == 0) {
        int64_t next;
        if (cron_next(&e, NULL, 1796418000, &next) == 0 && next <= 1796418000) abort();
    }
    return 0;
}
