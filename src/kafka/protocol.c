#include "kafka/protocol.h"

const char *kafka_api_name(int16_t api_key)
{
    switch (api_key) {
    case KAFKA_API_Produce: return "Produce";
    case KAFKA_API_Fetch: return "Fetch";
    case KAFKA_API_ListOffsets: return "ListOffsets";
    case KAFKA_API_Metadata: return "Metadata";
    case KAFKA_API_OffsetCommit: return "OffsetCommit";
    case KAFKA_API_OffsetFetch: return "OffsetFetch";
    case KAFKA_API_FindCoordinator: return "FindCoordinator";
    case KAFKA_API_JoinGroup: return "JoinGroup";
    case KAFKA_API_Heartbeat: return "Heartbeat";
    case KAFKA_API_LeaveGroup: return "LeaveGroup";
    case KAFKA_API_SyncGroup: return "SyncGroup";
    case KAFKA_API_DescribeGroups: return "DescribeGroups";
    case KAFKA_API_ListGroups: return "ListGroups";
    case KAFKA_API_SaslHandshake: return "SaslHandshake";
    case KAFKA_API_ApiVersions: return "ApiVersions";
    case KAFKA_API_CreateTopics: return "CreateTopics";
    case KAFKA_API_DeleteTopics: return "DeleteTopics";
    case KAFKA_API_InitProducerId: return "InitProducerId";
    case KAFKA_API_DescribeAcls: return "DescribeAcls";
    case KAFKA_API_CreateAcls: return "CreateAcls";
    case KAFKA_API_DeleteAcls: return "DeleteAcls";
    case KAFKA_API_DescribeConfigs: return "DescribeConfigs";
    case KAFKA_API_CreatePartitions: return "CreatePartitions";
    case KAFKA_API_DeleteGroups: return "DeleteGroups";
    case KAFKA_API_DeleteRecords: return "DeleteRecords";
    case KAFKA_API_AlterConfigs: return "AlterConfigs";
    case KAFKA_API_DescribeLogDirs: return "DescribeLogDirs";
    case KAFKA_API_IncrementalAlterConfigs: return "IncrementalAlterConfigs";
    case KAFKA_API_DescribeCluster: return "DescribeCluster";
    case KAFKA_API_OffsetDelete: return "OffsetDelete";
    case KAFKA_API_SaslAuthenticate: return "SaslAuthenticate";
    case KAFKA_API_DescribeUserScramCredentials: return "DescribeUserScramCredentials";
    case KAFKA_API_AlterUserScramCredentials: return "AlterUserScramCredentials";
    }
    return "Unknown";
}

const char *kafka_error_name(int16_t code)
{
    switch (code) {
    case KAFKA_ERR_UNKNOWN_SERVER_ERROR: return "UNKNOWN_SERVER_ERROR";
    case KAFKA_ERR_NONE: return "NONE";
    case KAFKA_ERR_OFFSET_OUT_OF_RANGE: return "OFFSET_OUT_OF_RANGE";
    case KAFKA_ERR_CORRUPT_MESSAGE: return "CORRUPT_MESSAGE";
    case KAFKA_ERR_UNKNOWN_TOPIC_OR_PARTITION: return "UNKNOWN_TOPIC_OR_PARTITION";
    case KAFKA_ERR_MESSAGE_TOO_LARGE: return "MESSAGE_TOO_LARGE";
    case KAFKA_ERR_INVALID_TIMESTAMP: return "INVALID_TIMESTAMP";
    case KAFKA_ERR_INVALID_TOPIC_EXCEPTION: return "INVALID_TOPIC_EXCEPTION";
    case KAFKA_ERR_INVALID_REQUIRED_ACKS: return "INVALID_REQUIRED_ACKS";
    case KAFKA_ERR_ILLEGAL_GENERATION: return "ILLEGAL_GENERATION";
    case KAFKA_ERR_UNKNOWN_MEMBER_ID: return "UNKNOWN_MEMBER_ID";
    case KAFKA_ERR_REBALANCE_IN_PROGRESS: return "REBALANCE_IN_PROGRESS";
    case KAFKA_ERR_TOPIC_AUTHORIZATION_FAILED: return "TOPIC_AUTHORIZATION_FAILED";
    case KAFKA_ERR_GROUP_AUTHORIZATION_FAILED: return "GROUP_AUTHORIZATION_FAILED";
    case KAFKA_ERR_CLUSTER_AUTHORIZATION_FAILED: return "CLUSTER_AUTHORIZATION_FAILED";
    case KAFKA_ERR_SECURITY_DISABLED: return "SECURITY_DISABLED";
    case KAFKA_ERR_UNSUPPORTED_VERSION: return "UNSUPPORTED_VERSION";
    case KAFKA_ERR_TOPIC_ALREADY_EXISTS: return "TOPIC_ALREADY_EXISTS";
    case KAFKA_ERR_INVALID_PARTITIONS: return "INVALID_PARTITIONS";
    case KAFKA_ERR_INVALID_REPLICATION_FACTOR: return "INVALID_REPLICATION_FACTOR";
    case KAFKA_ERR_INVALID_CONFIG: return "INVALID_CONFIG";
    case KAFKA_ERR_INVALID_REQUEST: return "INVALID_REQUEST";
    case KAFKA_ERR_POLICY_VIOLATION: return "POLICY_VIOLATION";
    case KAFKA_ERR_KAFKA_STORAGE_ERROR: return "KAFKA_STORAGE_ERROR";
    case KAFKA_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER: return "OUT_OF_ORDER_SEQUENCE_NUMBER";
    case KAFKA_ERR_DUPLICATE_SEQUENCE_NUMBER: return "DUPLICATE_SEQUENCE_NUMBER";
    case KAFKA_ERR_INVALID_PRODUCER_EPOCH: return "INVALID_PRODUCER_EPOCH";
    case KAFKA_ERR_UNKNOWN_PRODUCER_ID: return "UNKNOWN_PRODUCER_ID";
    case KAFKA_ERR_NON_EMPTY_GROUP: return "NON_EMPTY_GROUP";
    case KAFKA_ERR_GROUP_ID_NOT_FOUND: return "GROUP_ID_NOT_FOUND";
    case KAFKA_ERR_FENCED_INSTANCE_ID: return "FENCED_INSTANCE_ID";
    case KAFKA_ERR_GROUP_SUBSCRIBED_TO_TOPIC: return "GROUP_SUBSCRIBED_TO_TOPIC";
    case KAFKA_ERR_INVALID_RECORD: return "INVALID_RECORD";
    case KAFKA_ERR_UNSUPPORTED_SASL_MECHANISM: return "UNSUPPORTED_SASL_MECHANISM";
    case KAFKA_ERR_ILLEGAL_SASL_STATE: return "ILLEGAL_SASL_STATE";
    case KAFKA_ERR_SASL_AUTHENTICATION_FAILED: return "SASL_AUTHENTICATION_FAILED";
    case KAFKA_ERR_RESOURCE_NOT_FOUND: return "RESOURCE_NOT_FOUND";
    case KAFKA_ERR_DUPLICATE_RESOURCE: return "DUPLICATE_RESOURCE";
    case KAFKA_ERR_UNACCEPTABLE_CREDENTIAL: return "UNACCEPTABLE_CREDENTIAL";
    }
    return "ERROR";
}
