/* Fuzz driver for the record batch v2 codec: produce-payload validation and the record
 * iterator, on arbitrary bytes. Beyond "no crash", it checks properties a broker relies on:
 * an accepted payload's info adds up, the record walk never reports more records than the
 * batch declares, and the iterator (kafka_records_next, which shares the walk's record
 * decoder but checks the CRC) agrees with the walk on every batch whose CRC holds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/record_batch.h"

struct count {
    int64_t n;
};

static int count_record(int64_t offset, int64_t timestamp, void *arg)
{
    (void)offset;
    (void)timestamp;
    ((struct count *)arg)->n++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kafka_batches_info_t info;
    sb_err_t err = {0};
    int rc = kafka_batches_validate(data, size, &info, &err);
    if (rc != 0 && rc != SB_ECORRUPT && rc != SB_EINVAL) abort();
    if (rc == 0 && (info.nbatches < 1 || info.last_offset_delta_total < info.nbatches)) abort();

    /* Iterate every batch the framing allows, whatever its CRC says: the record parser must
     * hold up against bytes that never passed validation. */
    size_t pos = 0;
    while (pos < size) {
        kafka_batch_header_t h;
        if (kafka_batch_header_parse(data + pos, size - pos, &h) != 0) break;
        struct count c = {0};
        int frc = kafka_batch_records_foreach(data + pos, size - pos, count_record, &c);
        if (frc == 0 && c.n != h.records_count) abort();
        if (frc != 0 && frc != SB_EINVAL) abort();

        sb_rd_t rd;
        sb_rd_init(&rd, data + pos, size - pos);
        kafka_records_iter_t it;
        if (kafka_records_batch_open(&rd, &it, NULL) == 0) {
            kafka_record_view_t rec;
            kafka_record_header_t hdr;
            int64_t n = 0;
            int nrc;
            while ((nrc = kafka_records_next(&it, &rec, NULL)) == 1) {
                n++;
                while (kafka_records_next_header(&rec, &hdr, NULL) == 1) {
                }
            }
            if ((nrc == 0) != (frc == 0)) abort();
            if (nrc == 0 && n != c.n) abort();
        }
        if (h.batch_length < KAFKA_BATCH_MIN_LENGTH || (uint64_t)kafka_batch_size(&h) > size - pos)
            break;
        pos += (size_t)kafka_batch_size(&h);
    }
    return 0;
}
