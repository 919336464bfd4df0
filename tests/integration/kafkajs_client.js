// kafkajs (pure JavaScript Kafka client) driver for test_kafkajs.py.
// Usage: node kafkajs_client.js <command> '<json args>'
// Prints exactly one JSON object on stdout; kafkajs's own logs go to stderr.
// Commands:
//   create-topic {broker, topic, partitions}          -> {created, topics, offsets}
//   produce      {broker, topic, count, partitions, idempotent, compression}
//                                                     -> {results: [{partition, baseOffset, errorCode}]}
//   consume      {broker, topic, groupId, count, timeoutMs}
//                                                     -> {messages: [{partition, offset, key, value}]}
//   offsets      {broker, topic, groupId}             -> {topicOffsets, groupOffsets}
//   admin        {broker, steps: [{op, ...}]}         -> {results: [one per step]}
//                ops: alterConfigs {resources, validateOnly}, describeConfigs {resources},
//                deleteTopicRecords {topic, partitions}, describeCluster {},
//                fetchTopicOffsetsByTimestamp {topic, timestamp}, fetchTopicOffsets {topic},
//                produce {topic, messages: [{partition, value, timestamp}]}.
//                A step that fails yields {error: {name, type, code, message}} and the next
//                step still runs, so one call can check refusals and their side effects.
//   auth-check   {broker, sasl}                       -> {topics} or {error: {name, type, message}}
// Every command takes an optional `sasl` ({mechanism, username, password}, kafkajs's shape;
// for oauthbearer {mechanism: 'oauthbearer', token}) and an optional `ssl` ({ca, cert, key}:
// PEM file paths; cert and key for a client certificate), which turns TLS on.
'use strict';

const fs = require('fs');
const { Kafka, logLevel, CompressionTypes } = require('kafkajs');

// TLS options for node's tls.connect: the CA to verify the broker, and a client certificate.
function sslOption(ssl) {
  if (!ssl) return {};
  const o = { rejectUnauthorized: true, ca: [fs.readFileSync(ssl.ca, 'utf8')] };
  if (ssl.cert) o.cert = fs.readFileSync(ssl.cert, 'utf8');
  if (ssl.key) o.key = fs.readFileSync(ssl.key, 'utf8');
  return { ssl: o };
}

function stderrLogCreator() {
  return ({ namespace, level, label, log }) => {
    const { message, ...extra } = log;
    process.stderr.write(`[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`);
  };
}

// kafkajs wants a token provider for OAUTHBEARER; the tests hand over a fixed token.
function saslOption(sasl) {
  if (sasl && sasl.mechanism === 'oauthbearer') {
    return { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: sasl.token }) };
  }
  return sasl;
}

function client(args) {
  return new Kafka({
    clientId: 'streambus-it-kafkajs',
    brokers: [args.broker],
    logLevel: logLevel.WARN,
    logCreator: stderrLogCreator,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 8, initialRetryTime: 100, maxRetryTime: 2000 },
    ...(args.sasl ? { sasl: saslOption(args.sasl) } : {}),
    ...sslOption(args.ssl),
  });
}

async function createTopic(args) {
  const admin = client(args).admin();
  await admin.connect();
  try {
    const created = await admin.createTopics({
      topics: [{ topic: args.topic, numPartitions: args.partitions }],
      waitForLeaders: true,
    });
    const topics = await admin.listTopics();
    const offsets = await admin.fetchTopicOffsets(args.topic);
    return { created, topics, offsets };
  } finally {
    await admin.disconnect();
  }
}

async function produce(args) {
  const idempotent = !!args.idempotent;
  const producer = client(args).producer({
    idempotent,
    // kafkajs requires at most one request in flight for the idempotent producer.
    maxInFlightRequests: idempotent ? 1 : undefined,
    allowAutoTopicCreation: true,
  });
  const compression = args.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  await producer.connect();
  const results = [];
  try {
    const partitions = args.partitions || 1;
    // Several sends of 25 messages each: several batches per partition.
    for (let start = 0; start < args.count; start += 25) {
      const messages = [];
      for (let i = start; i < Math.min(args.count, start + 25); i++) {
        messages.push({ key: `key-${i}`, value: `value-${i}`, partition: i % partitions });
      }
      const meta = await producer.send({ topic: args.topic, acks: -1, compression, messages });
      for (const m of meta) {
        results.push({ partition: m.partition, baseOffset: Number(m.baseOffset), errorCode: m.errorCode });
      }
    }
  } finally {
    await producer.disconnect();
  }
  return { results };
}

async function consume(args) {
  const consumer = client(args).consumer({
    groupId: args.groupId,
    sessionTimeout: 10000,
    heartbeatInterval: 500,
    maxWaitTimeInMs: 200,
  });
  const messages = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: args.topic, fromBeginning: true });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out with ${messages.length}/${args.count} messages`)),
        args.timeoutMs || 30000);
      consumer.run({
        autoCommitThreshold: 1, // commit after every processed message
        eachMessage: async ({ partition, message }) => {
          messages.push({
            partition,
            offset: Number(message.offset),
            key: message.key ? message.key.toString() : null,
            value: message.value ? message.value.toString() : null,
          });
          if (messages.length >= args.count) {
            clearTimeout(timer);
            resolve();
          }
        },
      }).catch(reject);
    });
  } finally {
    await consumer.disconnect(); // commits what was processed, then LeaveGroup
  }
  return { messages };
}

async function offsets(args) {
  const admin = client(args).admin();
  await admin.connect();
  try {
    const topicOffsets = await admin.fetchTopicOffsets(args.topic);
    const groupOffsets = args.groupId
      ? await admin.fetchOffsets({ groupId: args.groupId, topics: [args.topic] })
      : null;
    return { topicOffsets, groupOffsets };
  } finally {
    await admin.disconnect();
  }
}

async function adminSteps(args) {
  const kafka = client(args);
  const admin = kafka.admin();
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await admin.connect();
  await producer.connect();
  const results = [];
  try {
    for (const step of args.steps) {
      try {
        let value;
        switch (step.op) {
          case 'alterConfigs':
            value = await admin.alterConfigs({ resources: step.resources, validateOnly: !!step.validateOnly });
            break;
          case 'describeConfigs':
            value = await admin.describeConfigs({ resources: step.resources, includeSynonyms: false });
            break;
          case 'deleteTopicRecords':
            value = await admin.deleteTopicRecords({ topic: step.topic, partitions: step.partitions });
            break;
          case 'describeCluster':
            value = await admin.describeCluster();
            break;
          case 'fetchTopicOffsetsByTimestamp':
            value = await admin.fetchTopicOffsetsByTimestamp(step.topic, step.timestamp);
            break;
          case 'fetchTopicOffsets':
            value = await admin.fetchTopicOffsets(step.topic);
            break;
          case 'produce':
            value = await producer.send({ topic: step.topic, acks: -1, messages: step.messages });
            break;
          default:
            throw new Error(`unknown admin step ${step.op}`);
        }
        results.push({ value: value === undefined ? null : value });
      } catch (e) {
        results.push({ error: { name: e.name, type: e.type || null, code: e.code || null, message: e.message } });
      }
    }
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }
  return { results };
}

// Connects with the given SASL credentials and lists topics; a refusal is a result, not a crash.
async function authCheck(args) {
  const admin = new Kafka({
    clientId: 'streambus-it-kafkajs',
    brokers: [args.broker],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 5000,
    requestTimeout: 15000,
    retry: { retries: 0 },
    ...(args.sasl ? { sasl: saslOption(args.sasl) } : {}),
    ...sslOption(args.ssl),
  }).admin();
  try {
    await admin.connect();
    return { topics: await admin.listTopics() };
  } catch (e) {
    return { error: { name: e.name, type: e.type, message: e.message } };
  } finally {
    await admin.disconnect();
  }
}

const commands = { 'create-topic': createTopic, produce, consume, offsets, admin: adminSteps, 'auth-check': authCheck };

async function main() {
  const [command, json] = process.argv.slice(2);
  if (!commands[command]) {
    throw new Error(`unknown command ${command}; expected one of ${Object.keys(commands).join(', ')}`);
  }
  const result = await commands[command](JSON.parse(json || '{}'));
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`kafkajs_client: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  });
