#ifndef STREAMBUS_JOBS_CRON_H
#define STREAMBUS_JOBS_CRON_H

/* Cron schedules: the standard 5-field syntax and its next tick in a time zone of the TZ
 * database. Pure functions except cron_tz_load, which reads one file of the zoneinfo tree.
 *
 * Syntax: "minute hour day-of-month month day-of-week", each field `*`, a number, a range
 * `a-b`, a step `*\/n` or `a-b/n` or `a/n`, or a comma list of those; months JAN-DEC and days
 * SUN-SAT by name (case-insensitive), day-of-week 0-7 with 0 and 7 both Sunday. As in Vixie
 * cron, when both day fields are restricted a day matches if either does.
 *
 * Daylight-saving changes, decided once here so every caller agrees:
 *  - a wall-clock time that occurs twice (clocks go back) fires once, at its first occurrence;
 *  - a wall-clock time that does not exist (clocks go forward) fires once, at the first
 *    instant after the change (02:30 on a spring-forward night in Europe/Berlin → 03:00 CEST).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct cron_expr {
    uint64_t minute; /* bit n = minute n */
    uint32_t hour;
    uint32_t dom;   /* bits 1..31 */
    uint16_t month; /* bits 1..12 */
    uint8_t dow;    /* bits 0..6, Sunday = 0 */
    bool dom_any;   /* the field was "*" (or "*\/1") */
    bool dow_any;
} cron_expr_t;

/* Parses a 5-field expression. On failure returns SB_EINVAL with err naming the field and
 * what is wrong ("hour: 24 is out of range 0-23"). */
int cron_parse(const char *spec, cron_expr_t *out, sb_err_t *err);

typedef struct cron_tz cron_tz_t;

/* Parses TZif data (RFC 8536, version 1 to 4; the 64-bit section when there is one, and its
 * POSIX TZ footer for instants after the last transition). Every byte goes through the
 * bounded reader; malformed data → SB_ECORRUPT. */
int cron_tz_parse(const void *data, size_t len, cron_tz_t **out, sb_err_t *err);
/* Loads a zone by name ("Europe/Berlin", "UTC") from zoneinfo_dir (NULL = /usr/share/zoneinfo).
 * Names with "..", a leading '/' or characters outside [A-Za-z0-9_+-/] are refused (SB_EINVAL)
 * before any file is opened; an unknown zone is SB_ENOENT. */
int cron_tz_load(const char *name, const char *zoneinfo_dir, cron_tz_t **out, sb_err_t *err);
void cron_tz_free(cron_tz_t *tz);
/* Seconds east of UTC in effect at utc_s. */
int32_t cron_tz_offset(const cron_tz_t *tz, int64_t utc_s);

/* The first tick strictly after after_s (Unix seconds) into *next_s. SB_ENOENT when the
 * expression never fires within eight years (for example "0 0 30 2 *"). tz NULL = UTC. */
int cron_next(const cron_expr_t *e, const cron_tz_t *tz, int64_t after_s, int64_t *next_s);

#endif
