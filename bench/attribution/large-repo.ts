/**
 * The 10,000-commit repository of the latency run: a year of squash and merge-workflow PRs (about 27 a
 * day) over 300 files, written once with git fast-import and cached under bench/out/ with a manifest of
 * the anomalies to send (a culprit PR, the deployed SHA a few PRs later, and frames whose crash line the
 * culprit wrote and nobody changed before that deploy).
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { type Changes, History } from "./history.ts";
import { PEOPLE, Rng } from "./scenarios.ts";

export interface LatencyAnomaly {
  culpritPr: number;
  deployedSha: string;
  t0: Date;
  message: string;
  frames: Array<{ filename: string; absPath: string; lineno: number; function: string }>;
}

const VERSION = 2;
const TARGET_COMMITS = 10_000;
const MODULES = 20;
const FILES_PER_MODULE = 15;
const FNS = 8;
const FN_LINES = 10;
const HEADER = 2;
const END = new Date("2026-11-20T12:00:00Z").getTime();
const MINUTE = 60_000;

interface Pending {
  pr: number;
  path: string;
  line: number;
  text: string;
  fn: string;
  deployAfter: number;
}

export async function build10k(
  dir: string,
): Promise<{ commits: number; cached: boolean; anomalies: LatencyAnomaly[] }> {
  const manifest = `${dir}.json`;
  if (existsSync(manifest) && existsSync(dir)) {
    const m = JSON.parse(await readFile(manifest, "utf8"));
    if (m.version === VERSION) {
      return {
        commits: m.commits,
        cached: true,
        anomalies: m.anomalies.map((a: LatencyAnomaly & { t0: string }) => ({ ...a, t0: new Date(a.t0) })),
      };
    }
  }
  const rng = new Rng(10_000);
  const h = new History();
  const files = new Map<string, string[]>();
  const fnName = (m: number, f: number, k: number) => `handle${m}x${f}x${k}`;
  const initial: Changes = {};
  for (let m = 0; m < MODULES; m++) {
    for (let f = 0; f < FILES_PER_MODULE; f++) {
      const p = `src/module${m}/file${f}.ts`;
      const lines = [`import { step } from "../lib/step";`, `// module ${m} file ${f}`];
      for (let k = 0; k < FNS; k++) {
        lines.push(`export function ${fnName(m, f, k)}(input: Input): Output {`);
        for (let j = 1; j < FN_LINES - 1; j++) lines.push(`  const v${k}_${j} = step(input, ${j});`);
        lines.push("}");
      }
      files.set(p, lines);
      initial[p] = lines;
    }
  }
  const paths = [...files.keys()];
  const start = END - 365 * 24 * 60 * MINUTE;
  h.commit("Initial import", PEOPLE[0]!, new Date(start - 24 * 60 * MINUTE), initial);
  let commits = 1;
  let pr = 1;
  let time = start;
  // One PR in five is a merge workflow (two commits): about 8,300 PRs make the 10,000 commits.
  const step = (365 * 24 * 60 * MINUTE) / (TARGET_COMMITS / 1.2);
  const pending: Pending[] = [];
  const anomalies: Array<LatencyAnomaly & { deployMark: number }> = [];
  const shaOf: Array<{ mark: number; anomaly: LatencyAnomaly & { deployMark: number } }> = [];
  const windowStart = END - 60 * 24 * 60 * MINUTE;

  while (commits < TARGET_COMMITS) {
    time += step * (0.5 + rng.next());
    const at = new Date(time);
    const author = rng.pick(PEOPLE);
    const changes: Changes = {};
    const written: Array<{ path: string; line: number; text: string }> = [];
    for (let i = 0; i < rng.int(1, 3); i++) {
      const p = rng.pick(paths);
      const lines = [...(changes[p] ?? files.get(p)!)];
      for (let j = 0; j < rng.int(1, 2); j++) {
        const k = rng.int(0, FNS - 1);
        const idx = HEADER + k * FN_LINES + rng.int(1, FN_LINES - 2);
        const text = `  const c${pr}_${j} = step(input.field${rng.int(0, 30)}, ${idx});`;
        lines[idx] = text;
        written.push({ path: p, line: idx, text });
      }
      changes[p] = lines;
    }
    const n = pr++;
    const title = `Change ${rng.pick(["pricing", "checkout", "search", "billing", "auth"])} handling ${n}`;
    let mark: number;
    if (rng.chance(0.2) && commits + 2 <= TARGET_COMMITS) {
      mark = h.mergePr(
        n,
        `feat/change-${n}`,
        title,
        "",
        [{ message: title, author, at: new Date(time - 30 * MINUTE), changes }],
        at,
      ).merge;
      commits += 2;
    } else {
      mark = h.squashPr(n, title, "", author, at, changes);
      commits += 1;
    }
    for (const [p, lines] of Object.entries(changes)) files.set(p, lines!);

    // Deploy points of pending anomalies.
    for (const a of pending.splice(0)) {
      if (a.deployAfter > commits) {
        pending.push(a);
        continue;
      }
      if (files.get(a.path)![a.line] !== a.text) continue; // overwritten before the deploy
      const other = () => {
        const p = rng.pick(paths.filter((x) => x !== a.path));
        const k = rng.int(0, FNS - 1);
        const idx = HEADER + k * FN_LINES + rng.int(1, FN_LINES - 2);
        const [, mi, fi] = /module(\d+)\/file(\d+)/.exec(p)!;
        return {
          filename: p,
          absPath: `/srv/app/${p}`,
          lineno: idx + 1,
          function: fnName(Number(mi), Number(fi), k),
        };
      };
      const anomaly = {
        culpritPr: a.pr,
        deployedSha: "",
        deployMark: mark,
        t0: new Date(time + 30 * MINUTE),
        message: "Cannot read properties of undefined (reading 'field')",
        frames: [
          { filename: a.path, absPath: `/srv/app/${a.path}`, lineno: a.line + 1, function: a.fn },
          other(),
          other(),
        ],
      };
      anomalies.push(anomaly);
      shaOf.push({ mark, anomaly });
    }
    if (
      time > windowStart &&
      time < END - 2 * 24 * 60 * MINUTE &&
      anomalies.length + pending.length < 40 &&
      rng.chance(0.03)
    ) {
      const w = written[0]!;
      const [, mi, fi] = /module(\d+)\/file(\d+)/.exec(w.path)!;
      const k = Math.floor((w.line - HEADER) / FN_LINES);
      pending.push({
        pr: n,
        path: w.path,
        line: w.line,
        text: w.text,
        fn: fnName(Number(mi), Number(fi), k),
        deployAfter: commits + rng.int(3, 15),
      });
    }
  }
  const marks = await h.write(dir);
  for (const { mark, anomaly } of shaOf) anomaly.deployedSha = marks.get(mark)!;
  const out = anomalies.map(({ deployMark: _, ...a }) => a);
  await writeFile(`${dir}.json`, JSON.stringify({ version: VERSION, commits, anomalies: out }, null, 2));
  return { commits, cached: false, anomalies: out };
}
