/* Fuzz driver for ctl's IncrementalAlterConfigs response decoder (ctl_iac_parse_response): the
 * bytes a broker sends back after the correlation id. */
#include <stdint.h>
#include <stdlib.h>

#include "ctl/ctl_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int16_t code = 0;
    char msg[64];
    ctl_iac_parse_response(data, size, &code, msg, sizeof(msg));
    return 0;
}
