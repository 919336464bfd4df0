#ifndef STREAMBUS_KAFKA_RECORDS_H
#define STREAMBUS_KAFKA_RECORDS_H

/* The record encoder and decoder now live in the one record-batch module, kafka/record_batch.h.
 * This header only keeps src/broker/group/offsets.c compiling until it includes
 * kafka/record_batch.h and spells KAFKA_BATCH_ATTR_CONTROL (that file belongs to the group
 * coordinator's owners); include kafka/record_batch.h in new code. */

#include "kafka/record_batch.h"

#define KAFKA_RECORDS_ATTR_CONTROL KAFKA_BATCH_ATTR_CONTROL

#endif
