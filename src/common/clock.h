#ifndef STREAMBUS_COMMON_CLOCK_H
#define STREAMBUS_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Wall-clock milliseconds since the Unix epoch (Kafka timestamps). */
static inline int64_t sb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic microseconds, for timeouts and latency measurement. */
static inline int64_t sb_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t sb_mono_ms(void)
{
    return sb_mono_us() / 1000;
}

#endif
