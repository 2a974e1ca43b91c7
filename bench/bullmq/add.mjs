// BullMQ's Queue.add against a redis-server: the anchor for scalegate's durable accepts per
// second (issue 15). Adds N jobs with at most C adds in flight (one Queue, one connection, as
// a producer service would), after a warm-up, and prints one JSON line.
// Usage: node add.mjs PORT N C BODY_BYTES
import { Queue } from "bullmq";

const [port, total, inFlight, bodyBytes] = process.argv.slice(2).map(Number);
if (!port || !total || !inFlight) {
  console.error("usage: node add.mjs PORT N C BODY_BYTES");
  process.exit(2);
}
const queue = new Queue("anchor", { connection: { host: "127.0.0.1", port } });
const payload = { body: "x".repeat(bodyBytes || 0) };

async function run(count) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      await queue.add("job", payload, { removeOnComplete: true });
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

await run(Math.min(2000, total)); // warm-up: scripts loaded, connection up
await queue.obliterate({ force: true });
const started = process.hrtime.bigint();
await run(total);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = process.cpuUsage();
console.log(JSON.stringify({ jobs: total, in_flight: inFlight, seconds, per_second: total / seconds,
                             node_cpu_s: (cpu.user + cpu.system) / 1e6 }));
await queue.close();
