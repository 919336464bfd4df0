#ifndef STREAMBUS_BROKER_HANDLERS_H
#define STREAMBUS_BROKER_HANDLERS_H

/* One handler per Kafka API (one file each under src/broker/handlers/ or src/broker/group/).
 * Contract: see kafka_handler_fn in broker/broker.h. Each handler decodes the request version
 * it is given (the dispatcher has already checked it against the advertised range). */

#include "broker/broker.h"

int handle_ApiVersions(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_Metadata(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_Produce(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_Fetch(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_ListOffsets(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_CreateTopics(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DeleteTopics(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_CreatePartitions(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_InitProducerId(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_AlterConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_IncrementalAlterConfigs(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DeleteRecords(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeCluster(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeLogDirs(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeAcls(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_CreateAcls(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DeleteAcls(broker_t *b, kreq_t *req, sb_wr_t *resp);

/* SASL and SCRAM credentials (handlers/sasl.c). */
int handle_SaslHandshake(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_SaslAuthenticate(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeUserScramCredentials(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_AlterUserScramCredentials(broker_t *b, kreq_t *req, sb_wr_t *resp);

/* Consumer groups (src/broker/group/). */
int handle_FindCoordinator(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_JoinGroup(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_SyncGroup(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_Heartbeat(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_LeaveGroup(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_OffsetCommit(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_OffsetFetch(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DescribeGroups(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_ListGroups(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_DeleteGroups(broker_t *b, kreq_t *req, sb_wr_t *resp);
int handle_OffsetDelete(broker_t *b, kreq_t *req, sb_wr_t *resp);

#endif
