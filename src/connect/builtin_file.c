/* The file-source and file-sink connectors; see builtin_file.h. */
#include "connect/builtin_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_SOURCE_MAX_LINE (1024 * 1024)

static const char *cfg(const json_t *config, const char *key)
{
    const json_t *v = json_object_get(config, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---------------------------------------------------------------- file-source */

typedef struct file_source {
    source_ctx_t *ctx;
    char *path;
    char *topic;
    FILE *f;
    long pos;
    char *line;
} file_source_t;

static int file_source_validate(const json_t *config, connect_config_errors_t *errs)
{
    if (!cfg(config, "file")) connect_config_error_add(errs, "file", "required: the path of the file to read");
    if (!cfg(config, "topic")) connect_config_error_add(errs, "topic", "required: the topic to write to");
    return errs->count ? -1 : 0;
}

static int file_source_start(source_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    file_source_t *s = calloc(1, sizeof(*s));
    s->ctx = ctx;
    s->path = strdup(cfg(config, "file"));
    s->topic = strdup(cfg(config, "topic"));
    s->line = malloc(FILE_SOURCE_MAX_LINE);
    const char *committed = source_committed_position(ctx);
    s->pos = committed ? strtol(committed, NULL, 10) : 0;
    *state = s;
    return 0;
}

/* Emits one line; returns 0, or -1 when the runtime is stopping. */
static int emit_line(file_source_t *s, char *line, size_t len, long end_pos)
{
    char posbuf[32];
    snprintf(posbuf, sizeof(posbuf), "%ld", end_pos);
    connect_record_t rec = {.topic = s->topic, .partition = -1, .key = {NULL, -1}, .value = {NULL, -1}};
    json_t *j = json_loadb(line, len, 0, NULL);
    char *key = NULL, *value = NULL;
    if (json_is_object(j) && json_object_get(j, "value")) {
        json_t *k = json_object_get(j, "key"), *v = json_object_get(j, "value");
        const char *topic = json_string_value(json_object_get(j, "topic"));
        if (topic) rec.topic = topic;
        if (k && !json_is_null(k)) {
            key = json_dumps(k, JSON_COMPACT | JSON_ENCODE_ANY);
            rec.key = (sb_slice_t){(const uint8_t *)key, (int32_t)strlen(key)};
        }
        if (!json_is_null(v)) {
            value = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            rec.value = (sb_slice_t){(const uint8_t *)value, (int32_t)strlen(value)};
        }
    } else {
        rec.value = (sb_slice_t){(const uint8_t *)line, (int32_t)len};
    }
    int rc = source_emit(s->ctx, &rec, posbuf);
    free(key);
    free(value);
    json_decref(j);
    return rc < 0 ? -1 : 0;
}

static int file_source_poll(void *state, int timeout_ms, connect_err_t *err)
{
    file_source_t *s = state;
    if (!s->f) {
        s->f = fopen(s->path, "r");
        if (!s->f) {
            /* The file may simply not exist yet: wait for it. */
            usleep((useconds_t)timeout_ms * 1000);
            return 0;
        }
    }
    if (fseek(s->f, s->pos, SEEK_SET) != 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "seek in %s failed", s->path);
        return -1;
    }
    int emitted = 0;
    while (emitted < 1000 && fgets(s->line, FILE_SOURCE_MAX_LINE, s->f)) {
        size_t len = strlen(s->line);
        /* A line without its newline is still being written: read it again next time. */
        if (len == 0 || s->line[len - 1] != '\n') break;
        long end = s->pos + (long)len;
        s->line[--len] = '\0';
        if (len > 0 && emit_line(s, s->line, len, end) < 0) return 0;
        s->pos = end;
        emitted++;
    }
    clearerr(s->f);
    if (emitted == 0) usleep((useconds_t)(timeout_ms < 50 ? timeout_ms : 50) * 1000);
    return 0;
}

static void file_source_commit(void *state, const char *position)
{
    (void)state;
    (void)position; /* the runtime's offsets topic is this connector's only memory */
}

static void file_source_stop(void *state)
{
    file_source_t *s = state;
    if (!s) return;
    if (s->f) fclose(s->f);
    free(s->path);
    free(s->topic);
    free(s->line);
    free(s);
}

static void file_source_status(void *state, json_t *out)
{
    file_source_t *s = state;
    json_object_set_new(out, "file", json_string(s->path));
    json_object_set_new(out, "position", json_integer(s->pos));
    json_object_set_new(out, "connected", json_boolean(access(s->path, R_OK) == 0));
}

const source_ops_t file_source_ops = {
    .name = "file-source",
    .description = "Emits the lines of a file (JSON {key,value} lines or plain text) to a topic",
    .validate = file_source_validate,
    .start = file_source_start,
    .poll = file_source_poll,
    .commit = file_source_commit,
    .stop = file_source_stop,
    .status = file_source_status,
    .validate_position = connect_position_validate_count,
};

/* ---------------------------------------------------------------- file-sink */

typedef struct file_sink {
    char *path;
    char *fail_on;
    char *fail_transient_file;
    FILE *f;
    int64_t records;
} file_sink_t;

static int file_sink_validate(const json_t *config, connect_config_errors_t *errs)
{
    if (!cfg(config, "file")) connect_config_error_add(errs, "file", "required: the path of the file to append to");
    return errs->count ? -1 : 0;
}

/* Opens path for appending after cutting off a torn last line: a process killed while writing
 * leaves bytes after the last newline that were never acknowledged (the batch's fdatasync had not
 * returned), and appending to them would weld the next record onto a broken one. */
static FILE *open_for_append(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return NULL;
    off_t end = lseek(fd, 0, SEEK_END), keep = end;
    char buf[4096];
    while (keep > 0) {
        off_t from = keep > (off_t)sizeof(buf) ? keep - (off_t)sizeof(buf) : 0;
        ssize_t got = pread(fd, buf, (size_t)(keep - from), from);
        if (got != keep - from) {
            close(fd);
            return NULL;
        }
        char *nl = memrchr(buf, '\n', (size_t)got);
        if (nl) {
            keep = from + (nl - buf) + 1;
            break;
        }
        keep = from;
    }
    if (keep < end && (ftruncate(fd, keep) != 0 || fdatasync(fd) != 0)) {
        close(fd);
        return NULL;
    }
    FILE *f = fdopen(fd, "a");
    if (!f) close(fd);
    return f;
}

static int file_sink_start(sink_ctx_t *ctx, const json_t *config, void **state, connect_err_t *err)
{
    file_sink_t *s = calloc(1, sizeof(*s));
    s->path = strdup(cfg(config, "file"));
    if (cfg(config, "fail.on")) s->fail_on = strdup(cfg(config, "fail.on"));
    if (cfg(config, "fail.transient.file")) s->fail_transient_file = strdup(cfg(config, "fail.transient.file"));
    s->f = open_for_append(s->path);
    if (!s->f) {
        connect_err_set(err, CONNECT_ERR_FATAL, -1, "cannot open %s for appending", s->path);
        free(s->path);
        free(s->fail_on);
        free(s->fail_transient_file);
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int file_sink_load_positions(void *state, sink_position_t **out, int *n, connect_err_t *err)
{
    file_sink_t *s = state;
    *out = NULL;
    *n = 0;
    FILE *f = fopen(s->path, "r");
    if (!f) return 0;
    char *line = malloc(FILE_SOURCE_MAX_LINE);
    int cap = 0;
    while (fgets(line, FILE_SOURCE_MAX_LINE, f)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *topic = json_string_value(json_object_get(j, "topic"));
        if (topic) {
            int32_t partition = (int32_t)json_integer_value(json_object_get(j, "partition"));
            int64_t next = json_integer_value(json_object_get(j, "offset")) + 1;
            int i = 0;
            while (i < *n && !(strcmp((*out)[i].topic, topic) == 0 && (*out)[i].partition == partition)) i++;
            if (i == *n) {
                if (*n == cap) {
                    cap = cap ? cap * 2 : 8;
                    *out = realloc(*out, (size_t)cap * sizeof(**out));
                }
                snprintf((*out)[i].topic, sizeof((*out)[i].topic), "%s", topic);
                (*out)[i].partition = partition;
                (*out)[i].next_offset = next;
                (*n)++;
            } else if (next > (*out)[i].next_offset) {
                (*out)[i].next_offset = next;
            }
        }
        json_decref(j);
    }
    free(line);
    fclose(f);
    return 0;
}

static json_t *slice_json(sb_slice_t s)
{
    return s.len < 0 ? json_null() : json_stringn((const char *)s.p, (size_t)s.len);
}

static int append_lines(file_sink_t *s, json_t **lines, int n, connect_err_t *err)
{
    for (int i = 0; i < n; i++) {
        char *text = json_dumps(lines[i], JSON_COMPACT);
        fputs(text ? text : "{}", s->f);
        fputc('\n', s->f);
        free(text);
    }
    if (fflush(s->f) != 0 || fdatasync(fileno(s->f)) != 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "writing %s failed", s->path);
        return -1;
    }
    return 0;
}

static int file_sink_put(void *state, const connect_record_t *recs, int n, connect_err_t *err)
{
    file_sink_t *s = state;
    struct stat st;
    if (s->fail_transient_file && stat(s->fail_transient_file, &st) == 0) {
        connect_err_set(err, CONNECT_ERR_TRANSIENT, -1, "target unavailable (%s exists)", s->fail_transient_file);
        return -1;
    }
    for (int i = 0; s->fail_on && i < n; i++) {
        if (recs[i].value.len > 0 && memmem(recs[i].value.p, (size_t)recs[i].value.len, s->fail_on, strlen(s->fail_on))) {
            connect_err_set(err, CONNECT_ERR_RECORD, i, "record contains \"%s\"", s->fail_on);
            return -1;
        }
    }
    json_t **lines = calloc((size_t)n + 1, sizeof(*lines));
    for (int i = 0; i < n; i++) {
        lines[i] = json_pack("{s:s,s:i,s:I,s:o,s:o}", "topic", recs[i].topic, "partition", (int)recs[i].partition,
                             "offset", (json_int_t)recs[i].offset, "key", slice_json(recs[i].key), "value",
                             slice_json(recs[i].value));
    }
    int rc = append_lines(s, lines, n, err);
    for (int i = 0; i < n; i++) json_decref(lines[i]);
    free(lines);
    if (rc == 0) s->records += n;
    return rc;
}

static int file_sink_skip(void *state, const connect_record_t *rec, connect_err_t *err)
{
    file_sink_t *s = state;
    json_t *line = json_pack("{s:s,s:i,s:I,s:b}", "topic", rec->topic, "partition", (int)rec->partition, "offset",
                             (json_int_t)rec->offset, "skipped", 1);
    int rc = append_lines(s, &line, 1, err);
    json_decref(line);
    return rc;
}

static void file_sink_stop(void *state)
{
    file_sink_t *s = state;
    if (!s) return;
    fclose(s->f);
    free(s->path);
    free(s->fail_on);
    free(s->fail_transient_file);
    free(s);
}

static void file_sink_status(void *state, json_t *out)
{
    file_sink_t *s = state;
    json_object_set_new(out, "file", json_string(s->path));
    json_object_set_new(out, "records_written", json_integer(s->records));
    json_object_set_new(out, "connected", json_true());
}

const sink_ops_t file_sink_ops = {
    .name = "file-sink",
    .description = "Appends records as JSON lines to a file (positions kept in the same file)",
    .validate = file_sink_validate,
    .start = file_sink_start,
    .load_positions = file_sink_load_positions,
    .put = file_sink_put,
    .skip = file_sink_skip,
    .stop = file_sink_stop,
    .status = file_sink_status,
};
