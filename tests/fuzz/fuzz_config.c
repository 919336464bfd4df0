/* Fuzz driver for the config parser: arbitrary bytes as a YAML config file, and the same bytes
 * split at the first '=' as a `--set key=value` override and as a host:port. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sb_config_t c;
    sb_err_t err;
    sb_config_defaults(&c);
    if (sb_config_load_string(&c, "fuzz", data, size, &err) == 0) sb_config_validate(&c, &err);

    /* The text forms below need NUL-terminated strings; an embedded NUL just ends them early. */
    char *text = malloc(size + 1);
    if (text) {
        memcpy(text, data, size);
        text[size] = 0;
        char host[256];
        int port;
        sb_config_parse_hostport(text, host, sizeof(host), &port, &err);
        char *eq = strchr(text, '=');
        if (eq) {
            *eq = 0;
            sb_config_set(&c, text, eq + 1, &err);
        }
        free(text);
    }
    sb_config_deinit(&c);
    return 0;
}
