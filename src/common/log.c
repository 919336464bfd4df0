#include "common/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Logging settings are the one piece of process-wide state outside src/cmd/: they are set
 * once before any thread starts and only read afterwards. */
static _Atomic int log_min_level = SB_LOG_INFO;
static _Atomic int log_json = -1; /* -1: decide on first use from isatty(2) */

static const char *level_names[] = {"debug", "info", "warn", "error"};

void sb_log_setup(sb_log_level_t level, sb_log_format_t format)
{
    log_min_level = level;
    log_json = format == SB_LOG_FORMAT_JSON ? 1 : format == SB_LOG_FORMAT_TEXT ? 0 : -1;
}

int sb_log_level_parse(const char *s, sb_log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (sb_log_level_t)i;
            return 0;
        }
    return -1;
}

int sb_log_format_parse(const char *s, sb_log_format_t *out)
{
    if (strcasecmp(s, "auto") == 0) *out = SB_LOG_FORMAT_AUTO;
    else if (strcasecmp(s, "text") == 0) *out = SB_LOG_FORMAT_TEXT;
    else if (strcasecmp(s, "json") == 0) *out = SB_LOG_FORMAT_JSON;
    else return -1;
    return 0;
}

/* Appends s to out as the body of a JSON string, escaping what JSON requires. */
static size_t json_escape(char *out, size_t cap, const char *s)
{
    size_t n = 0;
    for (; *s && n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20) {
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    out[n] = 0;
    return n;
}

void sb_log(sb_log_level_t level, const char *subsys, const char *fmt, ...)
{
    if ((int)level < log_min_level) return;
    int json = log_json;
    if (json < 0) json = !isatty(2);

    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[40];
    size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tl, sizeof(ts) - tl, ".%03dZ", (int)(tv.tv_usec / 1000));

    char line[4608];
    int n;
    if (json) {
        char esc[4200];
        json_escape(esc, sizeof(esc), msg);
        n = snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\",\"subsys\":\"%s\",\"msg\":\"%s\"}\n",
                     ts, level_names[level], subsys, esc);
    } else {
        n = snprintf(line, sizeof(line), "%s %-5s [%s] %s\n", ts, level_names[level], subsys, msg);
    }
    if (n < 0) return;
    if ((size_t)n >= sizeof(line)) n = sizeof(line) - 1;
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}
