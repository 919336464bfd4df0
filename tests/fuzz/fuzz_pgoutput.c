/* Fuzz driver for the pgoutput decoder: the input is one replication CopyData message; an
 * XLogData payload is decoded further as a pgoutput message. Neither may read out of bounds,
 * and what they decode must stay inside the input. */
#include <stdint.h>
#include <stdlib.h>

#include "connect/sources/pgoutput.h"

static void check_slice(sb_slice_t s, const uint8_t *data, size_t size)
{
    if (s.len < 0) return;
    if (s.p < data || s.p + s.len > data + size) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pgoutput_msg_t *msg;
    if (!msg && !(msg = malloc(sizeof(*msg)))) return 0;
    pg_copy_msg_t cm;
    const uint8_t *payload = data;
    size_t len = size;
    if (pg_copy_msg_decode(data, size, &cm, NULL) == 0 && cm.kind == PG_COPY_XLOGDATA) {
        payload = cm.payload.p;
        len = (size_t)cm.payload.len;
    }
    if (pgoutput_decode(payload, len, msg, NULL) != 0) return 0;
    switch (msg->kind) {
    case PGOUTPUT_RELATION:
        check_slice(msg->u.relation.nspname, data, size);
        check_slice(msg->u.relation.relname, data, size);
        for (int i = 0; i < msg->u.relation.ncols; i++) check_slice(msg->u.relation.cols[i].name, data, size);
        break;
    case PGOUTPUT_INSERT:
    case PGOUTPUT_UPDATE:
    case PGOUTPUT_DELETE:
        for (int i = 0; i < msg->old_tuple.ncols && msg->u.change.old_kind; i++)
            check_slice(msg->old_tuple.cols[i].value, data, size);
        for (int i = 0; i < msg->new_tuple.ncols && msg->u.change.has_new; i++)
            check_slice(msg->new_tuple.cols[i].value, data, size);
        break;
    case PGOUTPUT_TRUNCATE:
        for (int i = 0; i < msg->u.truncate.nrelids; i++) (void)pgoutput_truncate_relid(msg, i);
        break;
    default: break;
    }
    return 0;
}
