// The peers of bench/jobs_compare: graphile-worker and pg-boss on PostgreSQL, BullMQ on Redis,
// each driven the way its own documentation recommends for volume (batch add API, worker
// concurrency), with a no-op task. One process per run; one JSON line on stdout.
//
//   node peers.mjs --peer graphile|pgboss|bullmq --pg URL | --redis HOST:PORT
//                  --mode throughput|latency --jobs N --batch B [--rate JOBS_PER_S]
//
// throughput: N jobs added in batches of B as fast as the add API accepts them, the worker
//   running meanwhile; jobs/s = N / (first add -> last completion made durable by the queue).
// latency: batches of B added on a fixed schedule (rate jobs/s, open loop: a batch is due at
//   start + i*B/rate whatever happened before); submit->start = handler entry - due time.
import { performance } from "node:perf_hooks";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith("--") ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const peer = args.peer;
const mode = args.mode || "throughput";
const N = Number(args.jobs || 2000);
const B = Number(args.batch || 100);
const rate = Number(args.rate || 200);
const now = () => performance.timeOrigin + performance.now(); // ms, sub-ms resolution, wall clock

const starts = []; // submit->start latencies (ms)
let completed = 0;
let lastDone = 0;
let resolveDone;
const allDone = new Promise((r) => (resolveDone = r));
function started(job) {
  starts.push(now() - job.t);
}
function done(count) {
  completed += count;
  lastDone = now();
  if (completed >= N) resolveDone();
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  if (!sorted.length) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function driveBatches(add) {
  const t0 = now();
  for (let i = 0; i < N; i += B) {
    const n = Math.min(B, N - i);
    let due = now();
    if (mode === "latency") {
      due = t0 + (i / rate) * 1000;
      const wait = due - now();
      if (wait > 0) await sleep(wait);
    }
    const payloads = Array.from({ length: n }, (_, k) => ({ t: due, k: i + k }));
    await add(payloads);
  }
  return t0;
}

async function graphile() {
  const { run, makeWorkerUtils } = await import("graphile-worker");
  const connectionString = args.pg;
  const utils = await makeWorkerUtils({ connectionString });
  await utils.migrate();
  // The docs: concurrency up to the pool size; jobs are announced with LISTEN/NOTIFY.
  const concurrency = Number(args.concurrency || 10);
  const runner = await run({
    connectionString, concurrency, noHandleSignals: true, pollInterval: 1000,
    taskList: { noop: async (payload) => started(payload) },
  });
  runner.events.on("job:success", () => done(1));
  // 0.16's JavaScript API adds one job per call; its documented bulk path is the SQL function
  // graphile_worker.add_jobs(job_spec[]), one statement per batch.
  const t0 = await driveBatches((payloads) => utils.withPgClient((c) => c.query(
    "SELECT graphile_worker.add_jobs(array(SELECT json_populate_recordset(null::graphile_worker.job_spec, $1::json)))",
    [JSON.stringify(payloads.map((p) => ({ identifier: "noop", payload: p })))])));
  await allDone;
  await runner.stop();
  await utils.release();
  return { t0, settings: `concurrency ${concurrency}, add_jobs() batches of ${B}` };
}

async function pgboss() {
  const { default: PgBoss } = await import("pg-boss");
  const pg = await import("pg");
  const boss = new PgBoss({ connectionString: args.pg, max: 10 });
  boss.on("error", (e) => console.error("pg-boss:", e.message));
  await boss.start();
  await boss.createQueue("noop");
  // The docs: fetch in batches (batchSize) for volume, several workers per process for more
  // parallelism; the lowest polling interval is 0.5 s.
  const batchSize = Number(args.fetch || 100);
  const workers = Number(args.workers || 4);
  for (let w = 0; w < workers; w++)
    await boss.work("noop", { batchSize, pollingIntervalSeconds: 0.5 }, async (jobs) => {
      for (const j of jobs) started(j.data);
    });
  // Completion is made durable by pg-boss after the handler returns; count it in the table.
  const pool = new pg.default.Pool({ connectionString: args.pg, max: 1 });
  const poll = setInterval(async () => {
    const r = await pool.query("SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'noop' AND state = 'completed'");
    const n = r.rows[0].n;
    if (n > completed) done(n - completed);
  }, 20);
  const t0 = await driveBatches((payloads) => boss.insert(payloads.map((p) => ({ name: "noop", data: p }))));
  await allDone;
  clearInterval(poll);
  await pool.end();
  await boss.stop({ graceful: false, wait: false });
  return { t0, settings: `${workers} work() loops, batchSize ${batchSize}, polling 0.5 s, insert() batches of ${B}` };
}

async function bullmq() {
  const { Queue, Worker } = await import("bullmq");
  const [host, port] = args.redis.split(":");
  const connection = { host, port: Number(port), maxRetriesPerRequest: null };
  const queue = new Queue("noop", { connection });
  const concurrency = Number(args.concurrency || 50);
  const worker = new Worker("noop", async (job) => started(job.data), { connection, concurrency });
  worker.on("completed", () => done(1));
  await worker.waitUntilReady();
  const t0 = await driveBatches((payloads) =>
    queue.addBulk(payloads.map((p) => ({ name: "noop", data: p, opts: { removeOnComplete: true } }))));
  await allDone;
  await worker.close();
  await queue.close();
  return { t0, settings: `concurrency ${concurrency}, addBulk batches of ${B}, removeOnComplete` };
}

const drivers = { graphile, pgboss, bullmq };
if (!drivers[peer]) {
  console.error("usage: node peers.mjs --peer graphile|pgboss|bullmq ...");
  process.exit(2);
}
const timeout = setTimeout(() => {
  console.log(JSON.stringify({ peer, mode, error: `timed out with ${completed}/${N} completed` }));
  process.exit(1);
}, Number(args.timeout || 300) * 1000);
const { t0, settings } = await drivers[peer]();
clearTimeout(timeout);
const sorted = starts.slice().sort((a, b) => a - b);
console.log(JSON.stringify({
  peer, mode, jobs: N, batch: B, settings,
  jobs_per_s: N / ((lastDone - t0) / 1000),
  p50_ms: percentile(sorted, 50), p99_ms: percentile(sorted, 99),
}));
process.exit(0);
