/**
 * CPU time of processes from Linux's /proc, for the ingest benchmarks: a server and its children, and
 * every Postgres process (whose backends do the writes). Elsewhere the readings are undefined or empty.
 */
import { readdir, readFile } from "node:fs/promises";

const CLOCK_TICKS_PER_MS = 100 / 1000; // USER_HZ is 100 on Linux

/** CPU time (user + system) of one process so far, ms; undefined if it is gone (or there is no /proc). */
export async function processCpuMs(pid: number): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!stat) return undefined;
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_MS;
}

/** CPU time of these processes and their descendants so far, ms; undefined without /proc. */
export async function cpuMs(roots: number[]): Promise<number | undefined> {
  let total = 0;
  const seen = new Set<number>();
  const visit = async (pid: number): Promise<void> => {
    if (seen.has(pid)) return;
    seen.add(pid);
    const ms = await processCpuMs(pid);
    if (ms === undefined) return;
    total += ms;
    const tasks = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
    for (const tid of tasks) {
      const children = await readFile(`/proc/${pid}/task/${tid}/children`, "utf8").catch(() => "");
      for (const child of children.split(" ").filter(Boolean)) await visit(Number(child));
    }
  };
  try {
    await readdir("/proc/self");
  } catch {
    return undefined;
  }
  for (const pid of roots) await visit(pid);
  return total;
}

/** CPU time so far of each Postgres server process on this machine (its backends do the inserts), ms. */
export async function postgresCpu(): Promise<Map<number, number>> {
  const byPid = new Map<number, number>();
  for (const entry of await readdir("/proc").catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, "utf8").catch(() => "");
    if (comm.trim() !== "postgres") continue;
    const ms = await processCpuMs(Number(entry));
    if (ms !== undefined) byPid.set(Number(entry), ms);
  }
  return byPid;
}

/** CPU spent between two readings by the processes in both (one that exited meanwhile is left out). */
export function spentBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? ms);
  return total;
}
