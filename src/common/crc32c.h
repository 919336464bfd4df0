#ifndef STREAMBUS_COMMON_CRC32C_H
#define STREAMBUS_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C (Castagnoli), as used by Kafka record batches v2. Uses the SSE4.2 instruction when
 * the CPU has it, a slice-by-8 table otherwise. crc32c(0, "123456789", 9) == 0xE3069283. */
uint32_t crc32c(uint32_t crc, const void *data, size_t len);

#endif
