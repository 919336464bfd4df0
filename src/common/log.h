#ifndef STREAMBUS_COMMON_LOG_H
#define STREAMBUS_COMMON_LOG_H

/* Structured logging: one line per event. On a TTY: "2026-11-23T01:02:03.456Z INFO  [subsys] msg";
 * otherwise one JSON object per line: {"ts":...,"level":"info","subsys":"log","msg":"..."}.
 * Thread-safe (each line is written with a single write(2)). Never log secrets. */

typedef enum { SB_LOG_DEBUG = 0, SB_LOG_INFO, SB_LOG_WARN, SB_LOG_ERROR } sb_log_level_t;
typedef enum { SB_LOG_FORMAT_AUTO = 0, SB_LOG_FORMAT_TEXT, SB_LOG_FORMAT_JSON } sb_log_format_t;

/* Process-wide settings, set once at start-up from the config before threads start. */
void sb_log_setup(sb_log_level_t level, sb_log_format_t format);
int sb_log_level_parse(const char *s, sb_log_level_t *out);   /* "debug|info|warn|error" */
int sb_log_format_parse(const char *s, sb_log_format_t *out); /* "auto|text|json" */

void sb_log(sb_log_level_t level, const char *subsys, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sb_debug(subsys, ...) sb_log(SB_LOG_DEBUG, subsys, __VA_ARGS__)
#define sb_info(subsys, ...) sb_log(SB_LOG_INFO, subsys, __VA_ARGS__)
#define sb_warn(subsys, ...) sb_log(SB_LOG_WARN, subsys, __VA_ARGS__)
#define sb_error(subsys, ...) sb_log(SB_LOG_ERROR, subsys, __VA_ARGS__)

#endif
