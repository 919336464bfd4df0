/* Committed offsets: OffsetCommit, OffsetFetch, OffsetDelete and DeleteGroups, their durable records
 * in the internal offsets log, and the replay of that log at start-up.
 *
 * Record format (one v2 batch per OffsetCommit, OffsetDelete or DeleteGroups request, uncompressed; the
 * layouts follow Kafka's own __consumer_offsets keys and values so the topic reads the same):
 *   offset commit   key   = INT16 1 | STRING group | STRING topic | INT32 partition
 *                   value = INT16 3 | INT64 offset | INT32 leader_epoch | STRING metadata |
 *                           INT64 commit_timestamp          (null value: that offset is deleted,
 *                                                            written by OffsetDelete)
 *   group deletion  key   = INT16 2 | STRING group
 *                   value = null (a tombstone: every offset of the group recorded before it is gone)
 * Replay applies records in log order, last write wins. Records with other key versions (such
 * as Kafka's group-metadata values) are skipped, so a newer writer does not break an older reader.
 *
 * In-memory state changes only when a write is durable (in the broker_after_durable callback),
 * so OffsetFetch never returns an offset a crash could take back, and memory applies records in
 * the same order as the log does on replay. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/authz.h"
#include "broker/group/coordinator.h"
#include "broker/group/group_codec.h"
#include "broker/group/group_int.h"
#include "broker/handlers/handlers.h"
#include "broker/log/plog.h"
#include "common/clock.h"
#include "common/log.h"
#include "kafka/protocol.h"
#include "kafka/records.h"

enum {
    OFFSET_KEY_VERSION_COMMIT = 1,
    OFFSET_KEY_VERSION_GROUP = 2,
    OFFSET_VALUE_VERSION = 3,
    /* offset.metadata.max.bytes in Kafka. */
    OFFSET_METADATA_MAX_BYTES = 4096,
    /* OFFSET_METADATA_TOO_LARGE; not (yet) in kafka/protocol.h. */
    ERR_OFFSET_METADATA_TOO_LARGE = 12,
    REPLAY_READ_BYTES = 1 << 20,
};

/* WRITE_TOPIC_DELETED is no request: the tombstones written when a topic is deleted
 * (group_coordinator_topic_deleted); it has no slot and answers nobody. */
typedef enum { WRITE_COMMIT, WRITE_DELETE, WRITE_OFFSET_DELETE, WRITE_TOPIC_DELETED } offset_write_kind_t;

/* One OffsetCommit, OffsetDelete or DeleteGroups waiting for its batch to be durable. It owns a copy of the
 * request body, re-decoded so that the slices it answers with stay valid. */
struct offset_write {
    offset_write_t *next;
    group_coordinator_t *gc; /* NULL once the coordinator was freed */
    offset_write_kind_t kind;
    kslot_t *slot;
    int16_t version;
    uint8_t *body;
    offset_commit_request_t commit;
    delete_groups_request_t del;
    offset_delete_request_t odel;
    int16_t group_error; /* OffsetDelete's top-level error */
    int16_t *error_codes;
    int64_t commit_timestamp;
    char *deleted_topic; /* WRITE_TOPIC_DELETED: the topic whose offsets go */
};

/* ----- the in-memory table ----- */

static group_offset_t *offset_find(group_t *g, const void *topic, int32_t topic_len, int32_t partition)
{
    for (int32_t i = 0; i < g->offset_count; i++) {
        group_offset_t *o = &g->offsets[i];
        if (o->partition == partition && (int32_t)strlen(o->topic) == topic_len &&
            memcmp(o->topic, topic, (size_t)topic_len) == 0)
            return o;
    }
    return NULL;
}

static int offset_set(group_t *g, const void *topic, int32_t topic_len, int32_t partition, int64_t offset,
                      int32_t leader_epoch, const void *metadata, int32_t metadata_len, int64_t commit_ts)
{
    char *md = group_strndup(metadata_len >= 0 ? metadata : "", metadata_len >= 0 ? metadata_len : 0);
    if (!md) return SB_ENOMEM;
    group_offset_t *o = offset_find(g, topic, topic_len, partition);
    if (!o) {
        if (g->offset_count == g->offset_cap) {
            int32_t cap = g->offset_cap ? g->offset_cap * 2 : 16;
            group_offset_t *n = realloc(g->offsets, (size_t)cap * sizeof(*n));
            if (!n) {
                free(md);
                return SB_ENOMEM;
            }
            g->offsets = n;
            g->offset_cap = cap;
        }
        char *t = group_strndup(topic, topic_len);
        if (!t) {
            free(md);
            return SB_ENOMEM;
        }
        o = &g->offsets[g->offset_count++];
        o->topic = t;
        o->partition = partition;
        o->metadata = NULL;
    }
    free(o->metadata);
    o->metadata = md;
    o->offset = offset;
    o->leader_epoch = leader_epoch;
    o->commit_timestamp = commit_ts;
    return 0;
}

static void offset_remove(group_t *g, const void *topic, int32_t topic_len, int32_t partition)
{
    group_offset_t *o = offset_find(g, topic, topic_len, partition);
    if (!o) return;
    free(o->topic);
    free(o->metadata);
    *o = g->offsets[--g->offset_count];
}

void group_offsets_clear(group_t *g)
{
    for (int32_t i = 0; i < g->offset_count; i++) {
        free(g->offsets[i].topic);
        free(g->offsets[i].metadata);
    }
    g->offset_count = 0;
}

void group_coordinator_foreach_offset(group_coordinator_t *gc,
                                      void (*cb)(void *arg, const char *group, const char *topic, int32_t partition,
                                                 int64_t offset),
                                      void *arg)
{
    for (int32_t i = 0; gc && i < gc->group_count; i++) {
        const group_t *g = gc->groups[i];
        for (int32_t k = 0; k < g->offset_count; k++)
            cb(arg, g->group_id, g->offsets[k].topic, g->offsets[k].partition, g->offsets[k].offset);
    }
}

/* ----- replay ----- */

static void replay_record(group_coordinator_t *gc, const kafka_record_view_t *rec)
{
    if (rec->key.len < 2) return;
    sb_rd_t k;
    sb_rd_init(&k, rec->key.p, (size_t)rec->key.len);
    int16_t key_version = sb_rd_i16(&k);
    sb_slice_t group = sb_rd_string(&k);
    if (key_version == OFFSET_KEY_VERSION_GROUP) {
        if (!sb_rd_ok(&k) || group.len < 0) goto malformed;
        if (rec->value.len >= 0) {
            /* A group-metadata value: only the protocol type is taken back (members are not
             * persisted), so an Empty consumer group stays "consumer" across a restart. */
            sb_rd_t v;
            sb_rd_init(&v, rec->value.p, (size_t)rec->value.len);
            sb_rd_i16(&v); /* value version */
            sb_slice_t protocol_type = sb_rd_string(&v);
            if (!sb_rd_ok(&v) || protocol_type.len <= 0) goto malformed;
            group_t *g = group_get_or_create(gc, group.p, group.len);
            char *pt = g ? group_strndup(protocol_type.p, protocol_type.len) : NULL;
            if (!pt) {
                sb_warn("group", "out of memory replaying group metadata at %lld", (long long)rec->offset);
                return;
            }
            free(g->protocol_type);
            g->protocol_type = pt;
            return;
        }
        group_t *g = group_find(gc, group.p, group.len);
        if (g) group_delete(gc, g, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        return;
    }
    if (key_version != OFFSET_KEY_VERSION_COMMIT && key_version != 0) return;
    sb_slice_t topic = sb_rd_string(&k);
    int32_t partition = sb_rd_i32(&k);
    if (!sb_rd_ok(&k) || group.len < 0 || topic.len < 0) goto malformed;
    if (rec->value.len < 0) {
        group_t *g = group_find(gc, group.p, group.len);
        if (g) offset_remove(g, topic.p, topic.len, partition);
        return;
    }
    sb_rd_t v;
    sb_rd_init(&v, rec->value.p, (size_t)rec->value.len);
    int16_t value_version = sb_rd_i16(&v);
    int64_t offset = sb_rd_i64(&v);
    int32_t leader_epoch = value_version >= 3 ? sb_rd_i32(&v) : -1;
    sb_slice_t metadata = sb_rd_string(&v);
    int64_t commit_ts = sb_rd_i64(&v);
    if (!sb_rd_ok(&v) || value_version < 0) goto malformed;
    group_t *g = group_get_or_create(gc, group.p, group.len);
    if (!g || offset_set(g, topic.p, topic.len, partition, offset, leader_epoch, metadata.p, metadata.len, commit_ts) != 0)
        sb_warn("group", "out of memory replaying offset at %lld", (long long)rec->offset);
    return;
malformed:
    sb_warn("group", "skipping malformed offsets record at offset %lld", (long long)rec->offset);
}

static int read_slice(const plog_slice_t *s, uint8_t *buf, sb_err_t *err)
{
    size_t done = 0;
    while (done < s->len) {
        ssize_t n = pread(s->fd, buf + done, s->len - done, s->pos + (off_t)done);
        if (n <= 0) return sb_err_set(err, SB_EIO, "reading the offsets log failed");
        done += (size_t)n;
    }
    return 0;
}

int group_offsets_replay(group_coordinator_t *gc, sb_err_t *err)
{
    plog_t *log = gc->offsets_log;
    int64_t next = plog_start_offset(log);
    int64_t end = plog_end_offset(log);
    uint8_t *buf = NULL;
    size_t cap = 0;
    int rc = 0;
    int64_t records = 0;
    while (next < end) {
        plog_slice_t s;
        rc = plog_read(log, next, REPLAY_READ_BYTES, &s, err);
        if (rc != 0) break;
        if (s.len == 0) break;
        if (s.len > cap) {
            uint8_t *nb = realloc(buf, s.len);
            if (!nb) {
                close(s.fd);
                rc = sb_err_set(err, SB_ENOMEM, "out of memory replaying the offsets log");
                break;
            }
            buf = nb;
            cap = s.len;
        }
        rc = read_slice(&s, buf, err);
        close(s.fd);
        if (rc != 0) break;
        sb_rd_t rd;
        sb_rd_init(&rd, buf, s.len);
        int64_t before = next;
        while (sb_rd_remaining(&rd) > 0) {
            kafka_records_iter_t it;
            sb_err_t berr = {0};
            int brc = kafka_records_batch_open(&rd, &it, &berr);
            if (brc == SB_EAGAIN) break;
            if (brc == SB_EINVAL && it.header.magic == 2) {
                sb_warn("group", "skipping compressed batch at offset %lld in the offsets log",
                        (long long)it.header.base_offset);
                next = it.header.base_offset + it.header.last_offset_delta + 1;
                continue;
            }
            if (brc != 0) {
                rc = sb_err_set(err, SB_ECORRUPT, "offsets log at offset %lld: %s", (long long)next, berr.msg);
                goto out;
            }
            int64_t batch_next = it.header.base_offset + it.header.last_offset_delta + 1;
            if (!(it.header.attributes & KAFKA_RECORDS_ATTR_CONTROL)) {
                kafka_record_view_t rec;
                int nrc;
                while ((nrc = kafka_records_next(&it, &rec, &berr)) == 1) {
                    if (rec.offset < next) continue;
                    replay_record(gc, &rec);
                    records++;
                }
                if (nrc < 0) {
                    rc = sb_err_set(err, SB_ECORRUPT, "offsets log at offset %lld: %s",
                                    (long long)it.header.base_offset, berr.msg);
                    goto out;
                }
            }
            if (batch_next > next) next = batch_next;
        }
        if (next == before) {
            rc = sb_err_set(err, SB_ECORRUPT, "offsets log makes no progress at offset %lld", (long long)next);
            break;
        }
    }
out:
    free(buf);
    if (rc == 0 && records)
        sb_info("group", "restored committed offsets from %lld records", (long long)records);
    return rc;
}

/* ----- writing ----- */

static void wr_key_commit(sb_wr_t *w, const void *group, int32_t group_len, const void *topic, int32_t topic_len,
                          int32_t partition)
{
    sb_wr_i16(w, OFFSET_KEY_VERSION_COMMIT);
    sb_wr_strn(w, false, group, group_len);
    sb_wr_strn(w, false, topic, topic_len);
    sb_wr_i32(w, partition);
}

/* Builds one batch from the records whose keys and values were written back to back into
 * `kv`, described by their lengths (value length -1: null). */
static int append_batch(group_coordinator_t *gc, const sb_wr_t *kv, const int32_t *lens, int32_t count,
                        sb_err_t *err)
{
    kafka_record_t *recs = calloc((size_t)count, sizeof(*recs));
    if (!recs) return sb_err_set(err, SB_ENOMEM, "out of memory");
    int64_t now = sb_now_ms();
    size_t pos = 0;
    for (int32_t i = 0; i < count; i++) {
        recs[i].timestamp = now;
        recs[i].key.p = kv->buf + pos;
        recs[i].key.len = lens[2 * i];
        pos += (size_t)lens[2 * i];
        recs[i].value.p = lens[2 * i + 1] >= 0 ? kv->buf + pos : NULL;
        recs[i].value.len = lens[2 * i + 1];
        if (lens[2 * i + 1] > 0) pos += (size_t)lens[2 * i + 1];
    }
    kafka_records_batch_opts_t opts;
    kafka_records_batch_defaults(&opts);
    sb_wr_t batch;
    sb_wr_init(&batch, 256);
    int rc = kafka_records_encode_batch(&batch, &opts, recs, count, err);
    free(recs);
    if (rc == 0) {
        int64_t base = 0;
        rc = plog_append(gc->offsets_log, batch.buf, batch.len, &base, err);
    }
    sb_wr_deinit(&batch);
    return rc;
}

void group_offsets_write_metadata(group_coordinator_t *gc, const group_t *g)
{
    if (!gc->offsets_log || !g->protocol_type) return;
    /* Kafka's GroupMetadataValue v0 with no members: protocol type, generation, protocol,
     * leader, members[]. Older StreamBus readers skip key-2 records that have a value. */
    sb_wr_t kv;
    sb_wr_init(&kv, 128);
    sb_wr_i16(&kv, OFFSET_KEY_VERSION_GROUP);
    sb_wr_str(&kv, false, g->group_id);
    int32_t lens[2] = {(int32_t)kv.len, 0};
    size_t vstart = kv.len;
    sb_wr_i16(&kv, 0);
    sb_wr_str(&kv, false, g->protocol_type);
    sb_wr_i32(&kv, g->generation_id);
    sb_wr_str(&kv, false, g->protocol_name);
    sb_wr_str(&kv, false, g->leader_id);
    sb_wr_array(&kv, false, 0);
    lens[1] = (int32_t)(kv.len - vstart);
    sb_err_t err = {0};
    /* Not waited for: losing it in a crash only loses the TYPE shown for an Empty group. */
    if (kv.oom || append_batch(gc, &kv, lens, 1, &err) != 0)
        sb_warn("group", "metadata of group %s not written: %s", g->group_id, kv.oom ? "out of memory" : err.msg);
    sb_wr_deinit(&kv);
}

static void write_free(offset_write_t *wr)
{
    offset_commit_request_deinit(&wr->commit);
    delete_groups_request_deinit(&wr->del);
    offset_delete_request_deinit(&wr->odel);
    free(wr->error_codes);
    free(wr->deleted_topic);
    free(wr->body);
    free(wr);
}

static void write_unlink(group_coordinator_t *gc, offset_write_t *wr)
{
    for (offset_write_t **p = &gc->writes; *p; p = &(*p)->next) {
        if (*p == wr) {
            *p = wr->next;
            return;
        }
    }
}

void group_offsets_detach_writes(group_coordinator_t *gc)
{
    for (offset_write_t *wr = gc->writes; wr; wr = wr->next) wr->gc = NULL;
    gc->writes = NULL;
}

static void write_respond(broker_t *b, group_coordinator_t *gc, offset_write_t *wr)
{
    sb_wr_t *w;
    if (gc) w = group_slot_begin(gc, wr->slot);
    else w = kslot_orphaned(wr->slot) ? NULL : kslot_writer(wr->slot);
    if (w && wr->kind == WRITE_COMMIT) offset_commit_response_encode(w, wr->version, &wr->commit, wr->error_codes);
    if (w && wr->kind == WRITE_DELETE) delete_groups_response_encode(w, wr->version, &wr->del, wr->error_codes);
    if (w && wr->kind == WRITE_OFFSET_DELETE)
        offset_delete_response_encode(w, wr->version, wr->group_error, &wr->odel, wr->error_codes);
    if (gc) group_slot_end(gc, wr->slot);
    else kslot_complete(b, wr->slot);
}

static void apply_commit(group_coordinator_t *gc, offset_write_t *wr)
{
    const offset_commit_request_t *rq = &wr->commit;
    group_t *g = group_get_or_create(gc, rq->group_id.p, rq->group_id.len);
    size_t k = 0;
    for (int32_t t = 0; t < rq->topic_count; t++) {
        const offset_commit_topic_t *topic = &rq->topics[t];
        for (int32_t p = 0; p < topic->partition_count; p++, k++) {
            if (wr->error_codes[k] != KAFKA_ERR_NONE) continue;
            const offset_commit_partition_t *part = &topic->partitions[p];
            int64_t ts = part->commit_timestamp >= 0 ? part->commit_timestamp : wr->commit_timestamp;
            if (!g || offset_set(g, topic->name.p, topic->name.len, part->partition_index, part->committed_offset,
                                 part->committed_leader_epoch, part->committed_metadata.p,
                                 part->committed_metadata.len, ts) != 0)
                wr->error_codes[k] = KAFKA_ERR_UNKNOWN_SERVER_ERROR;
        }
    }
}

static void apply_offset_delete(group_coordinator_t *gc, offset_write_t *wr)
{
    const offset_delete_request_t *rq = &wr->odel;
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    size_t k = 0;
    for (int32_t t = 0; t < rq->topic_count; t++) {
        const offset_fetch_topic_t *topic = &rq->topics[t];
        for (int32_t p = 0; p < topic->partition_count; p++, k++) {
            if (g && wr->error_codes[k] == KAFKA_ERR_NONE)
                offset_remove(g, topic->name.p, topic->name.len, topic->partition_indexes[p]);
        }
    }
}

static void apply_topic_deleted(group_coordinator_t *gc, const char *topic)
{
    for (int32_t i = 0; i < gc->group_count; i++) {
        group_t *g = gc->groups[i];
        for (int32_t k = 0; k < g->offset_count;) {
            group_offset_t *o = &g->offsets[k];
            if (strcmp(o->topic, topic) != 0) {
                k++;
                continue;
            }
            free(o->topic);
            free(o->metadata);
            *o = g->offsets[--g->offset_count];
        }
    }
}

/* How many per-partition error codes a write answers with. */
static size_t write_code_count(const offset_write_t *wr)
{
    size_t n = 0;
    if (wr->kind == WRITE_TOPIC_DELETED) return 0;
    if (wr->kind == WRITE_DELETE) return (size_t)wr->del.group_count;
    if (wr->kind == WRITE_COMMIT) {
        for (int32_t t = 0; t < wr->commit.topic_count; t++) n += (size_t)wr->commit.topics[t].partition_count;
    } else {
        for (int32_t t = 0; t < wr->odel.topic_count; t++) n += (size_t)wr->odel.topics[t].partition_count;
    }
    return n;
}

static void apply_delete(group_coordinator_t *gc, offset_write_t *wr, int err)
{
    for (int32_t i = 0; i < wr->del.group_count; i++) {
        if (wr->error_codes[i] != KAFKA_ERR_NONE) continue;
        sb_slice_t name = wr->del.groups_names[i];
        group_t *g = group_find(gc, name.p, name.len);
        if (err) {
            /* The marker may or may not be on disk; the group stays usable and the client
             * retries, which writes another marker. */
            if (g && g->state == GROUP_DEAD) g->state = GROUP_EMPTY;
            wr->error_codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        } else if (g) {
            sb_info("group", "group %s deleted", g->group_id);
            group_delete(gc, g, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE);
        }
    }
}

static void write_durable(broker_t *b, void *arg, int err)
{
    offset_write_t *wr = arg;
    group_coordinator_t *gc = wr->gc;
    if (gc) write_unlink(gc, wr);
    if (wr->kind == WRITE_TOPIC_DELETED) {
        /* The topic is gone whether or not its tombstones reached the disk; only a restart after
         * a failed write could bring its offsets back, which the warning says. */
        if (err)
            sb_warn("group", "removal of the committed offsets of deleted topic %s not durable: %s",
                    wr->deleted_topic, sb_err_name(err));
        if (gc) apply_topic_deleted(gc, wr->deleted_topic);
        write_free(wr);
        return;
    }
    size_t n = write_code_count(wr);
    if (!gc || err) {
        if (err) sb_warn("group", "offsets log write not durable: %s", sb_err_name(err));
        if (wr->kind == WRITE_DELETE && gc) {
            apply_delete(gc, wr, err ? err : SB_EIO);
        } else {
            for (size_t i = 0; i < n; i++) {
                if (wr->error_codes[i] == KAFKA_ERR_NONE) wr->error_codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
            }
        }
    } else if (wr->kind == WRITE_COMMIT) {
        apply_commit(gc, wr);
    } else if (wr->kind == WRITE_OFFSET_DELETE) {
        apply_offset_delete(gc, wr);
    } else {
        apply_delete(gc, wr, 0);
    }
    write_respond(b, gc, wr);
    write_free(wr);
}

/* Parks a write until the offsets log is durable up to its end; write_durable then applies it
 * and answers. Shared by OffsetCommit, OffsetDelete and DeleteGroups. */
static int write_wait_durable(broker_t *b, group_coordinator_t *gc, offset_write_t *wr)
{
    wr->next = gc->writes;
    gc->writes = wr;
    broker_after_durable(b, gc->offsets_log, plog_end_offset(gc->offsets_log), write_durable, wr);
    return KAFKA_HANDLER_DEFERRED;
}

/* Copies the body so that the decoded request outlives the handler call. */
static offset_write_t *write_new(group_coordinator_t *gc, kreq_t *req, offset_write_kind_t kind)
{
    offset_write_t *wr = calloc(1, sizeof(*wr));
    if (!wr) return NULL;
    size_t len = sb_rd_remaining(&req->body);
    wr->body = malloc(len ? len : 1);
    if (!wr->body) {
        free(wr);
        return NULL;
    }
    if (len) memcpy(wr->body, sb_rd_bytes(&req->body, len), len);
    wr->gc = gc;
    wr->kind = kind;
    wr->slot = req->slot;
    wr->version = req->api_version;
    wr->commit_timestamp = sb_now_ms();
    sb_rd_t rd;
    sb_rd_init(&rd, wr->body, len);
    int rc = kind == WRITE_COMMIT   ? offset_commit_request_decode(&rd, wr->version, &wr->commit)
             : kind == WRITE_DELETE ? delete_groups_request_decode(&rd, wr->version, &wr->del)
                                    : offset_delete_request_decode(&rd, wr->version, &wr->odel);
    if (rc != 0) {
        write_free(wr);
        return NULL;
    }
    return wr;
}

/* Kafka's checks before a commit is accepted, in Kafka's order. */
static int16_t commit_group_error(group_coordinator_t *gc, const offset_commit_request_t *rq, int64_t now_ms)
{
    if (rq->group_id.len <= 0) return KAFKA_ERR_INVALID_GROUP_ID;
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    if (!g) {
        /* No group: only a commit that does not rely on group management is allowed. */
        return rq->generation_id < 0 ? KAFKA_ERR_NONE : KAFKA_ERR_ILLEGAL_GENERATION;
    }
    if (g->state == GROUP_DEAD) return KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    if (group_static_member_fenced(g, rq->group_instance_id, rq->member_id)) return KAFKA_ERR_FENCED_INSTANCE_ID;
    if (rq->generation_id < 0 && g->state == GROUP_EMPTY) return KAFKA_ERR_NONE;
    if (g->state == GROUP_COMPLETING_REBALANCE) return KAFKA_ERR_REBALANCE_IN_PROGRESS;
    group_member_t *m = group_member_find(g, rq->member_id.p, rq->member_id.len);
    if (!m) return KAFKA_ERR_UNKNOWN_MEMBER_ID;
    if (rq->generation_id != g->generation_id) return KAFKA_ERR_ILLEGAL_GENERATION;
    group_member_touch(m, now_ms);
    return KAFKA_ERR_NONE;
}

static int16_t commit_partition_error(broker_t *b, const kreq_t *req, const offset_commit_topic_t *topic,
                                      const offset_commit_partition_t *part)
{
    if (!broker_authorize_topic(b, req, ACL_OP_READ, topic->name)) return KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
    topic_t *t = broker_topic_find(b, (const char *)topic->name.p, topic->name.len);
    if (!t || part->partition_index < 0 || part->partition_index >= topic_partition_count(t))
        return KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
    if (part->committed_metadata.len > OFFSET_METADATA_MAX_BYTES) return ERR_OFFSET_METADATA_TOO_LARGE;
    return KAFKA_ERR_NONE;
}

static int offset_commit(broker_t *b, group_coordinator_t *gc, kreq_t *req, sb_wr_t *resp)
{
    offset_write_t *wr = write_new(gc, req, WRITE_COMMIT);
    if (!wr) return SB_EINVAL;
    const offset_commit_request_t *rq = &wr->commit;
    size_t n = 0;
    for (int32_t t = 0; t < rq->topic_count; t++) n += (size_t)rq->topics[t].partition_count;
    wr->error_codes = calloc(n ? n : 1, sizeof(int16_t));
    if (!wr->error_codes) {
        write_free(wr);
        return SB_ENOMEM;
    }
    int16_t group_error = !broker_authorize_group(b, req, ACL_OP_READ, rq->group_id)
                              ? (int16_t)KAFKA_ERR_GROUP_AUTHORIZATION_FAILED
                              : commit_group_error(gc, rq, sb_mono_ms());
    sb_wr_t kv;
    sb_wr_init(&kv, 256);
    int32_t *lens = calloc(2 * (n ? n : 1), sizeof(int32_t));
    int32_t count = 0;
    size_t k = 0;
    for (int32_t t = 0; t < rq->topic_count; t++) {
        const offset_commit_topic_t *topic = &rq->topics[t];
        for (int32_t p = 0; p < topic->partition_count; p++, k++) {
            const offset_commit_partition_t *part = &topic->partitions[p];
            int16_t e = group_error ? group_error : commit_partition_error(b, req, topic, part);
            wr->error_codes[k] = e;
            if (e != KAFKA_ERR_NONE || !lens) continue;
            size_t start = kv.len;
            wr_key_commit(&kv, rq->group_id.p, rq->group_id.len, topic->name.p, topic->name.len, part->partition_index);
            lens[2 * count] = (int32_t)(kv.len - start);
            start = kv.len;
            int64_t ts = part->commit_timestamp >= 0 ? part->commit_timestamp : wr->commit_timestamp;
            sb_wr_i16(&kv, OFFSET_VALUE_VERSION);
            sb_wr_i64(&kv, part->committed_offset);
            sb_wr_i32(&kv, part->committed_leader_epoch);
            if (part->committed_metadata.len >= 0)
                sb_wr_strn(&kv, false, part->committed_metadata.p, part->committed_metadata.len);
            else sb_wr_str(&kv, false, "");
            sb_wr_i64(&kv, ts);
            lens[2 * count + 1] = (int32_t)(kv.len - start);
            count++;
        }
    }
    int rc = 0;
    if (!lens || kv.oom) {
        rc = SB_ENOMEM;
    } else if (count > 0) {
        sb_err_t err = {0};
        rc = append_batch(gc, &kv, lens, count, &err);
        if (rc != 0) sb_warn("group", "offset commit not written: %s", err.msg);
    }
    sb_wr_deinit(&kv);
    free(lens);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            if (wr->error_codes[i] == KAFKA_ERR_NONE) wr->error_codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    if (rc != 0 || count == 0) {
        offset_commit_response_encode(resp, wr->version, rq, wr->error_codes);
        write_free(wr);
        return KAFKA_HANDLER_DONE;
    }
    return write_wait_durable(b, gc, wr);
}

int handle_OffsetCommit(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    group_coordinator_t *gc = broker_groups(b);
    if (!gc) {
        offset_commit_request_t rq;
        int rc = offset_commit_request_decode(&req->body, req->api_version, &rq);
        if (rc == 0) {
            size_t n = 0;
            for (int32_t t = 0; t < rq.topic_count; t++) n += (size_t)rq.topics[t].partition_count;
            int16_t *codes = calloc(n ? n : 1, sizeof(int16_t));
            if (codes) {
                for (size_t i = 0; i < n; i++) codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
                offset_commit_response_encode(resp, req->api_version, &rq, codes);
                free(codes);
            } else {
                rc = SB_ENOMEM;
            }
        }
        offset_commit_request_deinit(&rq);
        return rc ? rc : KAFKA_HANDLER_DONE;
    }
    group_request_enter(gc, req, resp);
    return group_request_leave(gc, offset_commit(b, gc, req, resp));
}

static void fetch_partition(sb_wr_t *w, int16_t version, group_t *g, const void *topic, int32_t topic_len,
                            int32_t partition, bool denied)
{
    if (denied) {
        offset_fetch_response_partition(w, version, partition, -1, -1, "", KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED);
        return;
    }
    const group_offset_t *o = g ? offset_find(g, topic, topic_len, partition) : NULL;
    if (o) offset_fetch_response_partition(w, version, partition, o->offset, o->leader_epoch, o->metadata, KAFKA_ERR_NONE);
    else offset_fetch_response_partition(w, version, partition, -1, -1, "", KAFKA_ERR_NONE);
}

/* Whether the principal may see a group's offsets of topic `name` (DESCRIBE; hiding the
 * others is filtering, not a denial). */
static bool fetch_topic_visible(broker_t *b, const kreq_t *req, const char *name)
{
    return broker_authorize_quiet(b, req, ACL_OP_DESCRIBE, ACL_RESOURCE_TOPIC, name, (int32_t)strlen(name));
}

/* Every topic of the group the principal may describe, its partitions grouped under it. */
static void fetch_all(broker_t *b, const kreq_t *req, sb_wr_t *resp, int16_t version, const offset_fetch_group_t *rg,
                      const group_t *g)
{
    int32_t ntopics = 0;
    for (int32_t i = 0; g && i < g->offset_count; i++) {
        bool first = true;
        for (int32_t j = 0; j < i && first; j++) first = strcmp(g->offsets[j].topic, g->offsets[i].topic) != 0;
        ntopics += first && fetch_topic_visible(b, req, g->offsets[i].topic);
    }
    offset_fetch_response_group(resp, version, rg->group_id.p, rg->group_id.len, ntopics);
    for (int32_t i = 0; g && i < g->offset_count; i++) {
        const char *name = g->offsets[i].topic;
        bool first = true;
        for (int32_t j = 0; j < i && first; j++) first = strcmp(g->offsets[j].topic, name) != 0;
        if (!first || !fetch_topic_visible(b, req, name)) continue;
        int32_t nparts = 0;
        for (int32_t j = i; j < g->offset_count; j++) nparts += strcmp(g->offsets[j].topic, name) == 0;
        offset_fetch_response_topic(resp, version, name, (int32_t)strlen(name), nparts);
        for (int32_t j = i; j < g->offset_count; j++) {
            const group_offset_t *o = &g->offsets[j];
            if (strcmp(o->topic, name) == 0)
                offset_fetch_response_partition(resp, version, o->partition, o->offset, o->leader_epoch, o->metadata,
                                                KAFKA_ERR_NONE);
        }
        offset_fetch_response_topic_end(resp, version);
    }
}

/* One group's part of the answer (the whole answer before v8). */
static void fetch_group(broker_t *b, const kreq_t *req, sb_wr_t *resp, int16_t version, group_coordinator_t *gc,
                        const offset_fetch_group_t *rg)
{
    int16_t group_err = !broker_authorize_group(b, req, ACL_OP_DESCRIBE, rg->group_id)
                            ? (int16_t)KAFKA_ERR_GROUP_AUTHORIZATION_FAILED
                        : gc ? (int16_t)KAFKA_ERR_NONE
                             : (int16_t)KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
    group_t *g = gc && !group_err ? group_find(gc, rg->group_id.p, rg->group_id.len) : NULL;
    if (group_err && version < 2) {
        /* No top-level error before v2: report it on every partition. */
        offset_fetch_response_group(resp, version, rg->group_id.p, rg->group_id.len, rg->topic_count);
        for (int32_t t = 0; t < rg->topic_count; t++) {
            const offset_fetch_topic_t *topic = &rg->topics[t];
            offset_fetch_response_topic(resp, version, topic->name.p, topic->name.len, topic->partition_count);
            for (int32_t p = 0; p < topic->partition_count; p++)
                offset_fetch_response_partition(resp, version, topic->partition_indexes[p], -1, -1, "", group_err);
            offset_fetch_response_topic_end(resp, version);
        }
    } else if (group_err) {
        offset_fetch_response_group(resp, version, rg->group_id.p, rg->group_id.len, 0);
    } else if (rg->topic_count >= 0) {
        /* An empty list asks for nothing (Kafka: only a null list means "all topics"). */
        offset_fetch_response_group(resp, version, rg->group_id.p, rg->group_id.len, rg->topic_count);
        for (int32_t t = 0; t < rg->topic_count; t++) {
            const offset_fetch_topic_t *topic = &rg->topics[t];
            offset_fetch_response_topic(resp, version, topic->name.p, topic->name.len, topic->partition_count);
            bool denied = !broker_authorize_topic(b, req, ACL_OP_DESCRIBE, topic->name);
            for (int32_t p = 0; p < topic->partition_count; p++)
                fetch_partition(resp, version, g, topic->name.p, topic->name.len, topic->partition_indexes[p], denied);
            offset_fetch_response_topic_end(resp, version);
        }
    } else {
        fetch_all(b, req, resp, version, rg, g);
    }
    offset_fetch_response_group_end(resp, version, group_err);
}

int handle_OffsetFetch(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    offset_fetch_request_t rq;
    int rc = offset_fetch_request_decode(&req->body, req->api_version, &rq);
    if (rc != 0) {
        offset_fetch_request_deinit(&rq);
        return rc;
    }
    int16_t version = req->api_version;
    group_coordinator_t *gc = broker_groups(b);
    /* RequireStable (v7+) asks to wait out pending transactional commits; there are none. */
    offset_fetch_response_begin(resp, version, rq.group_count);
    for (int32_t i = 0; i < rq.group_count; i++) fetch_group(b, req, resp, version, gc, &rq.groups[i]);
    offset_fetch_response_end(resp, version);
    offset_fetch_request_deinit(&rq);
    return KAFKA_HANDLER_DONE;
}

/* ----- OffsetDelete ----- */

/* True when some member of a consumer group subscribes to `topic`, read from the member's
 * metadata for the group's chosen protocol (ConsumerProtocolSubscription: INT16 version,
 * ARRAY(STRING) topics, ...). */
static bool group_subscribes(const group_t *g, const void *topic, int32_t topic_len)
{
    for (int32_t i = 0; i < g->member_count; i++) {
        const group_member_t *m = g->members[i];
        for (int32_t k = 0; k < m->protocol_count; k++) {
            const group_protocol_t *pr = &m->protocols[k];
            if (!g->protocol_name || strcmp(pr->name, g->protocol_name) != 0) continue;
            sb_rd_t rd;
            sb_rd_init(&rd, pr->metadata, pr->metadata ? (size_t)pr->metadata_len : 0);
            sb_rd_i16(&rd);
            int32_t n = sb_rd_array(&rd, false, 2);
            for (int32_t t = 0; t < n && sb_rd_ok(&rd); t++) {
                sb_slice_t name = sb_rd_string(&rd);
                if (sb_rd_ok(&rd) && name.len == topic_len && memcmp(name.p, topic, (size_t)topic_len) == 0)
                    return true;
            }
        }
    }
    return false;
}

/* Kafka's rules: offsets of an Empty group can go; a live consumer group keeps those of the
 * topics it subscribes to (GROUP_SUBSCRIBED_TO_TOPIC); any other live group refuses. */
static int16_t offset_delete_group_error(group_coordinator_t *gc, const offset_delete_request_t *rq, group_t **out)
{
    *out = NULL;
    if (rq->group_id.len <= 0) return KAFKA_ERR_INVALID_GROUP_ID;
    group_t *g = group_find(gc, rq->group_id.p, rq->group_id.len);
    if (!g || g->state == GROUP_DEAD) return KAFKA_ERR_GROUP_ID_NOT_FOUND;
    *out = g;
    if (g->state == GROUP_EMPTY) return KAFKA_ERR_NONE;
    if (!g->protocol_type || strcmp(g->protocol_type, "consumer") != 0) return KAFKA_ERR_NON_EMPTY_GROUP;
    return KAFKA_ERR_NONE;
}

static int offset_delete(broker_t *b, group_coordinator_t *gc, kreq_t *req, sb_wr_t *resp)
{
    offset_write_t *wr = write_new(gc, req, WRITE_OFFSET_DELETE);
    if (!wr) return SB_EINVAL;
    const offset_delete_request_t *rq = &wr->odel;
    size_t n = write_code_count(wr);
    wr->error_codes = calloc(n ? n : 1, sizeof(int16_t));
    int32_t *lens = calloc(2 * (n ? n : 1), sizeof(int32_t));
    if (!wr->error_codes || !lens) {
        free(lens);
        write_free(wr);
        return SB_ENOMEM;
    }
    group_t *g;
    g = NULL;
    wr->group_error = !broker_authorize_group(b, req, ACL_OP_DELETE, rq->group_id)
                          ? (int16_t)KAFKA_ERR_GROUP_AUTHORIZATION_FAILED
                          : offset_delete_group_error(gc, rq, &g);
    sb_wr_t kv;
    sb_wr_init(&kv, 128);
    int32_t count = 0;
    size_t k = 0;
    for (int32_t t = 0; t < rq->topic_count && !wr->group_error; t++) {
        const offset_fetch_topic_t *topic = &rq->topics[t];
        topic_t *bt = broker_topic_find(b, (const char *)topic->name.p, topic->name.len);
        bool subscribed = g->state != GROUP_EMPTY && group_subscribes(g, topic->name.p, topic->name.len);
        for (int32_t p = 0; p < topic->partition_count; p++, k++) {
            int32_t part = topic->partition_indexes[p];
            int16_t e = KAFKA_ERR_NONE;
            if (!broker_authorize_topic(b, req, ACL_OP_READ, topic->name)) e = KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED;
            else if (!bt || part < 0 || part >= topic_partition_count(bt)) e = KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (subscribed) e = KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC;
            wr->error_codes[k] = e;
            if (e) continue;
            /* A tombstone even when no offset is stored: a commit still waiting for its fsync
             * lands before it in the log and in memory, and must go too. */
            size_t start = kv.len;
            wr_key_commit(&kv, rq->group_id.p, rq->group_id.len, topic->name.p, topic->name.len, part);
            lens[2 * count] = (int32_t)(kv.len - start);
            lens[2 * count + 1] = -1;
            count++;
        }
    }
    int rc = 0;
    if (kv.oom) rc = SB_ENOMEM;
    else if (count > 0) {
        sb_err_t err = {0};
        rc = append_batch(gc, &kv, lens, count, &err);
        if (rc != 0) sb_warn("group", "offset deletion not written: %s", err.msg);
    }
    sb_wr_deinit(&kv);
    free(lens);
    if (rc != 0) {
        for (size_t i = 0; i < n; i++) {
            if (wr->error_codes[i] == KAFKA_ERR_NONE) wr->error_codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
        }
    }
    if (rc != 0 || count == 0) {
        offset_delete_response_encode(resp, wr->version, wr->group_error, rq, wr->error_codes);
        write_free(wr);
        return KAFKA_HANDLER_DONE;
    }
    return write_wait_durable(b, gc, wr);
}

/* Adds a tombstone record for (group, topic, partition) to kv and lens. */
static int tombstone_add(sb_wr_t *kv, int32_t **lens, int32_t *count, int32_t *cap, const void *group,
                         int32_t group_len, const char *topic, int32_t partition)
{
    if (*count == *cap) {
        int32_t ncap = *cap ? *cap * 2 : 16;
        int32_t *n = realloc(*lens, 2 * (size_t)ncap * sizeof(int32_t));
        if (!n) return SB_ENOMEM;
        *lens = n;
        *cap = ncap;
    }
    size_t start = kv->len;
    wr_key_commit(kv, group, group_len, topic, (int32_t)strlen(topic), partition);
    (*lens)[2 * *count] = (int32_t)(kv->len - start);
    (*lens)[2 * *count + 1] = -1;
    (*count)++;
    return kv->oom ? SB_ENOMEM : 0;
}

void group_coordinator_topic_deleted(group_coordinator_t *gc, const char *topic)
{
    if (!gc || !gc->offsets_log || !topic) return;
    sb_wr_t kv;
    sb_wr_init(&kv, 128);
    int32_t *lens = NULL, count = 0, cap = 0;
    int rc = 0;
    for (int32_t i = 0; i < gc->group_count && rc == 0; i++) {
        group_t *g = gc->groups[i];
        for (int32_t k = 0; k < g->offset_count && rc == 0; k++) {
            if (strcmp(g->offsets[k].topic, topic) == 0)
                rc = tombstone_add(&kv, &lens, &count, &cap, g->group_id, (int32_t)strlen(g->group_id), topic,
                                   g->offsets[k].partition);
        }
    }
    /* Commits accepted before the deletion but not yet durable are in the log before these
     * tombstones and reach memory before their callback: they need tombstones too. */
    for (offset_write_t *wr = gc->writes; wr && rc == 0; wr = wr->next) {
        if (wr->kind != WRITE_COMMIT) continue;
        const offset_commit_request_t *rq = &wr->commit;
        size_t e = 0;
        for (int32_t t = 0; t < rq->topic_count && rc == 0; t++) {
            const offset_commit_topic_t *ct = &rq->topics[t];
            bool same = ct->name.len == (int32_t)strlen(topic) && memcmp(ct->name.p, topic, (size_t)ct->name.len) == 0;
            for (int32_t p = 0; p < ct->partition_count && rc == 0; p++, e++) {
                if (same && wr->error_codes[e] == KAFKA_ERR_NONE)
                    rc = tombstone_add(&kv, &lens, &count, &cap, rq->group_id.p, rq->group_id.len, topic,
                                       ct->partitions[p].partition_index);
            }
        }
    }
    offset_write_t *wr = NULL;
    if (rc == 0 && count > 0) {
        wr = calloc(1, sizeof(*wr));
        if (wr) wr->deleted_topic = strdup(topic);
        if (!wr || !wr->deleted_topic) rc = SB_ENOMEM;
    }
    sb_err_t err = {0};
    if (rc == 0 && count > 0) rc = append_batch(gc, &kv, lens, count, &err);
    sb_wr_deinit(&kv);
    free(lens);
    if (count == 0) return;
    if (rc != 0) {
        /* Memory still forgets them: the topic is gone, and only a restart replays them. */
        sb_warn("group", "committed offsets of deleted topic %s not removed from the offsets log: %s", topic,
                rc == SB_ENOMEM ? "out of memory" : err.msg);
        if (wr) write_free(wr);
        apply_topic_deleted(gc, topic);
        return;
    }
    sb_info("group", "removing %d committed offset(s) of deleted topic %s", count, topic);
    wr->gc = gc;
    wr->kind = WRITE_TOPIC_DELETED;
    wr->next = gc->writes;
    gc->writes = wr;
    broker_after_durable(gc->broker, gc->offsets_log, plog_end_offset(gc->offsets_log), write_durable, wr);
}

int handle_OffsetDelete(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    group_coordinator_t *gc = broker_groups(b);
    if (!gc) {
        offset_delete_request_t rq;
        int rc = offset_delete_request_decode(&req->body, req->api_version, &rq);
        if (rc == 0) offset_delete_response_encode(resp, req->api_version, KAFKA_ERR_COORDINATOR_NOT_AVAILABLE, &rq, NULL);
        offset_delete_request_deinit(&rq);
        return rc ? rc : KAFKA_HANDLER_DONE;
    }
    group_coordinator_tick(gc, sb_mono_ms()); /* see handle_DeleteGroups */
    group_request_enter(gc, req, resp);
    return group_request_leave(gc, offset_delete(b, gc, req, resp));
}

static int delete_groups(broker_t *b, group_coordinator_t *gc, kreq_t *req, sb_wr_t *resp)
{
    offset_write_t *wr = write_new(gc, req, WRITE_DELETE);
    if (!wr) return SB_EINVAL;
    const delete_groups_request_t *rq = &wr->del;
    wr->error_codes = calloc(rq->group_count > 0 ? (size_t)rq->group_count : 1, sizeof(int16_t));
    int32_t *lens = calloc(2 * (rq->group_count > 0 ? (size_t)rq->group_count : 1), sizeof(int32_t));
    if (!wr->error_codes || !lens) {
        free(lens);
        write_free(wr);
        return SB_ENOMEM;
    }
    sb_wr_t kv;
    sb_wr_init(&kv, 128);
    int32_t count = 0;
    for (int32_t i = 0; i < rq->group_count; i++) {
        sb_slice_t name = rq->groups_names[i];
        group_t *g = name.len > 0 ? group_find(gc, name.p, name.len) : NULL;
        int16_t e = KAFKA_ERR_NONE;
        if (!broker_authorize_group(b, req, ACL_OP_DELETE, name)) e = KAFKA_ERR_GROUP_AUTHORIZATION_FAILED;
        else if (name.len <= 0) e = KAFKA_ERR_INVALID_GROUP_ID;
        else if (!g || g->state == GROUP_DEAD) e = KAFKA_ERR_GROUP_ID_NOT_FOUND;
        else if (g->state != GROUP_EMPTY || g->pending_count) e = KAFKA_ERR_NON_EMPTY_GROUP;
        wr->error_codes[i] = e;
        if (e) continue;
        /* Dead from now on: joins and commits are refused until the marker is durable and the
         * group is forgotten, so nothing lands between the marker and the removal. */
        g->state = GROUP_DEAD;
        size_t start = kv.len;
        sb_wr_i16(&kv, OFFSET_KEY_VERSION_GROUP);
        sb_wr_strn(&kv, false, name.p, name.len);
        lens[2 * count] = (int32_t)(kv.len - start);
        lens[2 * count + 1] = -1;
        count++;
    }
    int rc = 0;
    if (kv.oom) rc = SB_ENOMEM;
    else if (count > 0) {
        sb_err_t err = {0};
        rc = append_batch(gc, &kv, lens, count, &err);
        if (rc != 0) sb_warn("group", "group deletion not written: %s", err.msg);
    }
    sb_wr_deinit(&kv);
    free(lens);
    if (rc != 0) apply_delete(gc, wr, rc);
    if (rc != 0 || count == 0) {
        delete_groups_response_encode(resp, wr->version, rq, wr->error_codes);
        write_free(wr);
        return KAFKA_HANDLER_DONE;
    }
    return write_wait_durable(b, gc, wr);
}

int handle_DeleteGroups(broker_t *b, kreq_t *req, sb_wr_t *resp)
{
    group_coordinator_t *gc = broker_groups(b);
    if (!gc) {
        delete_groups_request_t rq;
        int rc = delete_groups_request_decode(&req->body, req->api_version, &rq);
        if (rc == 0) {
            int16_t *codes = calloc(rq.group_count > 0 ? (size_t)rq.group_count : 1, sizeof(int16_t));
            if (codes) {
                for (int32_t i = 0; i < rq.group_count; i++) codes[i] = KAFKA_ERR_COORDINATOR_NOT_AVAILABLE;
                delete_groups_response_encode(resp, req->api_version, &rq, codes);
                free(codes);
            } else {
                rc = SB_ENOMEM;
            }
        }
        delete_groups_request_deinit(&rq);
        return rc ? rc : KAFKA_HANDLER_DONE;
    }
    /* Sessions that ended since the last tick end now, so a group whose members are gone is
     * Empty when asked (librdkafka's 0081 deletes exactly one session timeout after closing). */
    group_coordinator_tick(gc, sb_mono_ms());
    group_request_enter(gc, req, resp);
    return group_request_leave(gc, delete_groups(b, gc, req, resp));
}
