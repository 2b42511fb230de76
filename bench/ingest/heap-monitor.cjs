// Event-loop delay, garbage collections and old-generation size of a server under the ingest bench, one
// line each to $BENCH_MONITOR_DIR/monitor-<pid>.log (default /tmp). Load it into the servers with
//   BENCH_NODE_OPTIONS="--require ./bench/ingest/heap-monitor.cjs" npx tsx bench/ingest/run.ts
// Lines: "<mm:ss.mmm> loop max N ms" (each 100 ms whose worst event-loop delay passed 20 ms),
// "gc kind K N ms" (pauses over 5 ms; kind 1 scavenge, 4 mark-compact, 8 incremental marking step) and
// once a second "old N MB scavenges N" (old-generation bytes in use; young collections in that second).
const { monitorEventLoopDelay, PerformanceObserver } = require("node:perf_hooks");
const { isMainThread } = require("node:worker_threads");
const v8 = require("node:v8");
const fs = require("node:fs");
const path = require("node:path");

if (isMainThread) {
  const out = path.join(process.env.BENCH_MONITOR_DIR ?? "/tmp", `monitor-${process.pid}.log`);
  const stamp = () => new Date().toISOString().slice(14, 23);
  const line = (text) => fs.appendFileSync(out, `${stamp()} ${text}\n`);
  const delay = monitorEventLoopDelay({ resolution: 5 });
  delay.enable();
  let scavenges = 0;
  setInterval(() => {
    const max = delay.max / 1e6;
    if (max > 20) line(`loop max ${max.toFixed(1)} ms`);
    delay.reset();
  }, 100).unref();
  setInterval(() => {
    const old = v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space");
    line(`old ${((old?.space_used_size ?? 0) / 1048576).toFixed(1)} MB scavenges ${scavenges}`);
    scavenges = 0;
  }, 1000).unref();
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.detail?.kind === 1) scavenges++;
      if (entry.duration > 5) line(`gc kind ${entry.detail?.kind} ${entry.duration.toFixed(1)} ms`);
    }
  }).observe({ entryTypes: ["gc"] });
}
