/**
 * The seeded scenario generator (ATTRIBUTION.md §6.2). Each scenario is a small service repository with a
 * month of history, a fortnight of pull requests before first-seen (squash and merge workflows, rivals in
 * the crashing file, docs and tests PRs), two recorded deploys, Jira tickets (explicit keys in branch /
 * title / body / commits, tickets only inferable from assignee + timing + text, decoy patterns such as
 * UTF-8 or keys of unknown projects), and one anomaly whose culprit is known.
 *
 * Strata (the culprit's relation to the anomaly): S1 direct (changed the crash line), S2 deeper (changed a
 * caller's line on the stack), S3 same function (removed a guard above the crash line), S4 outside the
 * stack (a callee not on the stack, or a config file), S8 latent (S1, merged ten days before), S9 metric
 * (a Datadog monitor, no stack). Traps laid over them: S5 a later formatting-only PR re-indents the crash
 * file, S6 a fix merged after first-seen rewrites the crash line, a PR merged after the deploy but before
 * first-seen touches the crash line (not deployed), a sweeping refactor touches every file (the crash
 * function included), S7 same-file and same-function rivals, S10 the culprit reverted after first-seen,
 * S11 merge workflow, S12 frames with build / bundler paths.
 */
import type { Changes, History, Person } from "./history.ts";

// ---------------------------------------------------------------------------------------------------
// seeded randomness

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }
  next(): number {
    // mulberry32
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const out = [...xs];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------
// a tiny code model: files of functions, rendered with the file's indent width

export interface Line {
  depth: number;
  text: string;
}

export interface Fn {
  name: string;
  lines: Line[];
}

export interface SourceFile {
  path: string;
  indent: number;
  header: Line[];
  fns: Fn[];
}

export function render(f: SourceFile): string[] {
  const out: string[] = [];
  const put = (l: Line) => out.push(l.text === "" ? "" : `${" ".repeat(l.depth * f.indent)}${l.text}`);
  for (const l of f.header) put(l);
  for (const fn of f.fns) {
    out.push("");
    for (const l of fn.lines) put(l);
  }
  return out;
}

/** 1-based line of the first rendered line whose trimmed text equals `text`, in file `f`. */
export function lineOf(f: SourceFile, text: string): number {
  const i = render(f).findIndex((l) => l.trim() === text);
  if (i < 0) throw new Error(`line not found in ${f.path}: ${text}`);
  return i + 1;
}

const DOMAINS = [
  { dir: "pricing", nouns: ["discount", "rate", "coupon", "tier"] },
  { dir: "billing", nouns: ["invoice", "tax", "ledger", "credit"] },
  { dir: "cart", nouns: ["basket", "item", "quantity", "bundle"] },
  { dir: "shipping", nouns: ["parcel", "carrier", "zone", "label"] },
  { dir: "auth", nouns: ["session", "token", "scope", "grant"] },
  { dir: "inventory", nouns: ["stock", "warehouse", "reservation", "sku"] },
  { dir: "payments", nouns: ["refund", "capture", "acquirer", "mandate"] },
  { dir: "search", nouns: ["query", "facet", "ranking", "synonym"] },
  { dir: "notifications", nouns: ["email", "template", "digest", "webhook"] },
  { dir: "users", nouns: ["profile", "address", "consent", "avatar"] },
] as const;

const VERBS = ["apply", "resolve", "compute", "build", "validate", "merge", "load", "price", "sync", "split"];
const FIELDS = [
  "amount",
  "currency",
  "limit",
  "region",
  "threshold",
  "weight",
  "expiry",
  "owner",
  "code",
  "level",
];

const cap = (s: string) => s[0]!.toUpperCase() + s.slice(1);

function makeFn(name: string, noun: string, field: string, callee: string | undefined, rng: Rng): Fn {
  const other = rng.pick(FIELDS);
  return {
    name,
    lines: [
      { depth: 0, text: `export function ${name}(input: ${cap(noun)}Input): ${cap(noun)}Result {` },
      { depth: 1, text: `const record = load${cap(noun)}(input.id);` },
      { depth: 1, text: `// ${name}: ${noun} ${field} comes from the ${noun} store` },
      { depth: 1, text: `const entry = record.${noun}s[input.${other}] ?? null;` },
      { depth: 1, text: "if (!entry) {" },
      { depth: 2, text: `return empty${cap(noun)}(input, "${name}");` },
      { depth: 1, text: "}" },
      callee
        ? { depth: 1, text: `const step = ${callee}(input);` }
        : { depth: 1, text: `const step = ${noun}Defaults(input.${other});` },
      { depth: 1, text: `const value = compute${cap(name)}(entry.${field}, step);` },
      { depth: 1, text: `log.debug("${name}", value);` },
      { depth: 1, text: `return { ...input, ${field}: value };` },
      { depth: 0, text: "}" },
    ],
  };
}

/** Index of the lines every function has (see makeFn). */
export const L = { guard: 4, call: 7, compute: 8, log: 9 } as const;

// ---------------------------------------------------------------------------------------------------
// people

export const PEOPLE: Person[] = [
  { name: "Ada Lovelace", email: "ada@acme.example" },
  { name: "Grace Hopper", email: "grace@acme.example" },
  { name: "Alan Turing", email: "alan@acme.example" },
  { name: "Barbara Liskov", email: "barbara@acme.example" },
  { name: "Edsger Dijkstra", email: "edsger@acme.example" },
  { name: "Frances Allen", email: "frances@acme.example" },
];

// ---------------------------------------------------------------------------------------------------
// scenario shapes

export type Stratum = "S1" | "S2" | "S3" | "S4" | "S8" | "S9";

export interface TicketSpec {
  key: string;
  summary: string;
  description: string;
  assignee: Person;
  created: Date;
  inProgressAt: Date;
  doneAt: Date;
}

export interface PrTruth {
  number: number;
  /** The ticket the PR should link to (explicit key or the inferable ticket), null when none. */
  ticket: string | null;
  ticketMode: "branch" | "title" | "body" | "commit" | "inferred" | "none";
  decoy: boolean;
}

export interface FrameSpec {
  filename: string;
  absPath: string;
  lineno: number;
  function: string;
}

export interface Scenario {
  id: string;
  seed: number;
  stratum: Stratum;
  traps: string[];
  onStack: boolean;
  history: History;
  t0: Date;
  /** Marks of the culprit's merge and of the deploys (resolved to SHAs after writing). */
  culprit: { number: number; title: string; mark: number };
  deploys: Array<{ version: string; at: Date; mark: number }>;
  release: "sha" | "version" | "none";
  tickets: TicketSpec[];
  prs: PrTruth[];
  /** Error anomalies: frames crash-first, resolved to line numbers at the deployed content. */
  error?: { type: string; message: string; frames: FrameSpec[] };
  metric?: { title: string; metric: string };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** First-seen of every scenario (each scenario lives in an org of its own). */
export const T0 = new Date("2026-10-20T14:30:00Z");

interface Builder {
  rng: Rng;
  h: History;
  files: Map<string, SourceFile>;
  nextPr: number;
  nextTicket: number;
  tickets: TicketSpec[];
  prs: PrTruth[];
  events: Array<{ at: number; run: () => void }>;
}

function emit(_b: Builder, f: SourceFile): Changes {
  return { [f.path]: render(f) };
}

type Edit = (files: Map<string, SourceFile>) => Changes;

interface PrSpec {
  title: string;
  body: string;
  author: Person;
  at: Date;
  edit: Edit;
  workflow?: "squash" | "merge";
  /** Jira mode; "auto" draws one. */
  jira?: PrTruth["ticketMode"] | "auto";
  ticketSummary?: string;
  decoy?: boolean;
  onMerged?: (mark: number, n: number, before: Changes) => void;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 40);

const DECOYS = ["UTF-8", "SHA-256", "RFC-7231", "ISO-8859", "ABC-12", "X-1"];

/** Schedules a PR; it is written when the history reaches its time. Returns its number. */
function pr(b: Builder, spec: PrSpec): number {
  const n = b.nextPr++;
  const rng = b.rng;
  const workflow = spec.workflow ?? (rng.chance(0.5) ? "merge" : "squash");
  let mode = spec.jira ?? "auto";
  if (mode === "auto") {
    const r = rng.next();
    mode = r < 0.45 ? "title" : r < 0.6 ? "body" : r < 0.72 ? "inferred" : "none";
    if (workflow === "merge" && rng.chance(0.4)) mode = rng.pick(["branch", "commit"] as const);
  }
  if ((mode === "branch" || mode === "commit") && workflow === "squash") mode = "title";
  const decoy = spec.decoy ?? rng.chance(0.25);
  let key: string | null = null;
  let title = spec.title;
  let body = spec.body;
  let branch = `${rng.pick(["feat", "fix", "chore"])}/${slug(spec.title)}`;
  let commitMessage = spec.title;
  if (mode !== "none") {
    key = `PAY-${b.nextTicket++}`;
    const at = spec.at.getTime();
    b.tickets.push({
      key,
      summary:
        spec.ticketSummary ??
        (mode === "inferred"
          ? `${rng.pick(["We need to", "Please", "Customers ask us to"])} ${spec.title.charAt(0).toLowerCase()}${spec.title.slice(1)}`
          : spec.title),
      description: `${spec.body} Requested by the ${rng.pick(["checkout", "finance", "growth"])} team.`,
      assignee: spec.author,
      created: new Date(at - rng.int(3, 9) * DAY),
      inProgressAt: new Date(at - rng.int(6, 40) * HOUR),
      doneAt: new Date(at + rng.int(1, 5) * HOUR),
    });
    const shown = rng.chance(0.2) ? key.toLowerCase() : key;
    if (mode === "title") title = rng.chance(0.5) ? `${shown}: ${title}` : `[${key}] ${title}`;
    else if (mode === "body") body = `${body}\n\nCloses ${shown}.`;
    else if (mode === "branch") branch = `${shown}-${slug(spec.title)}`;
    else if (mode === "commit") commitMessage = `${key} ${spec.title}`;
  }
  if (decoy) {
    const d = rng.pick(DECOYS);
    if (rng.chance(0.5)) title = `${title} (${d})`;
    else body = `${body}\nSee ${d} for the encoding rules.`;
  }
  b.prs.push({ number: n, ticket: key, ticketMode: mode, decoy });
  b.events.push({
    at: spec.at.getTime(),
    run: () => {
      const snapshot = new Map([...b.files].map(([p, f]) => [p, render(f)]));
      const changes = spec.edit(b.files);
      const before: Changes = Object.fromEntries(
        Object.keys(changes).map((p) => [p, snapshot.get(p) ?? b.h.files.get(p) ?? null]),
      );
      let mark: number;
      if (workflow === "squash") {
        mark = b.h.squashPr(n, title, body, spec.author, spec.at, changes);
      } else {
        const paths = Object.keys(changes);
        const inner =
          paths.length > 1 && rng.chance(0.5)
            ? [
                {
                  message: commitMessage,
                  author: spec.author,
                  at: new Date(spec.at.getTime() - 3 * HOUR),
                  changes: { [paths[0]!]: changes[paths[0]!]! },
                },
                {
                  message: "Address review comments",
                  author: spec.author,
                  at: new Date(spec.at.getTime() - HOUR),
                  changes: Object.fromEntries(paths.slice(1).map((p) => [p, changes[p]!])),
                },
              ]
            : [
                {
                  message: commitMessage,
                  author: spec.author,
                  at: new Date(spec.at.getTime() - 2 * HOUR),
                  changes,
                },
              ];
        mark = b.h.mergePr(n, branch, title, body, inner, spec.at).merge;
      }
      spec.onMerged?.(mark, n, before);
    },
  });
  return n;
}

function flush(b: Builder): void {
  b.events.sort((x, y) => x.at - y.at);
  for (const e of b.events) e.run();
  b.events = [];
}

// ---------------------------------------------------------------------------------------------------
// the repository skeleton

interface Skeleton {
  /** crash file / function, its caller (frame 1) and the route (frame 2). */
  crash: { file: string; fn: string; noun: string; field: string; domain: string };
  caller: { file: string; fn: string };
  route: { file: string; fn: string };
  helper: { file: string; fn: string; noun: string };
  config: string;
  sourceFiles: string[];
}

function skeleton(b: Builder, importAt: Date): Skeleton {
  const rng = b.rng;
  const domains = rng.shuffle(DOMAINS).slice(0, 5);
  const all: SourceFile[] = [];
  const changes: Changes = {};
  for (const d of domains) {
    for (const noun of d.nouns.slice(0, 3)) {
      const path = `src/${d.dir}/${noun}.ts`;
      const used = new Set<string>();
      const fns: Fn[] = [];
      const count = rng.int(4, 7);
      for (let i = 0; i < count; i++) {
        let name = `${rng.pick(VERBS)}${cap(noun)}${i === 0 ? "" : cap(rng.pick(FIELDS))}`;
        while (used.has(name)) name = `${name}${i}`;
        used.add(name);
        fns.push(makeFn(name, noun, rng.pick(FIELDS), undefined, rng));
      }
      const file: SourceFile = {
        path,
        indent: 2,
        header: [
          { depth: 0, text: `import { log } from "../lib/log";` },
          { depth: 0, text: `import { load${cap(noun)} } from "../lib/${noun}-store";` },
          { depth: 0, text: `import type { ${cap(noun)}Input, ${cap(noun)}Result } from "./types";` },
        ],
        fns,
      };
      all.push(file);
      b.files.set(path, file);
    }
  }
  const routes: SourceFile = {
    path: "src/routes/api.ts",
    indent: 2,
    header: [{ depth: 0, text: `import { router } from "../lib/router";` }],
    fns: [],
  };
  b.files.set(routes.path, routes);
  // The chain route → caller → crash.
  const [crashFile, callerFile] = rng.shuffle(all).slice(0, 2) as [SourceFile, SourceFile];
  const crashFnIdx = rng.int(1, crashFile.fns.length - 1);
  const crashFn = crashFile.fns[crashFnIdx]!;
  const callerFn = callerFile.fns[rng.int(0, callerFile.fns.length - 1)]!;
  callerFn.lines[L.call] = { depth: 1, text: `const step = ${crashFn.name}(input);` };
  const handler = `handle${cap(callerFn.name)}`;
  routes.fns.push({
    name: handler,
    lines: [
      { depth: 0, text: `export async function ${handler}(req: Request): Promise<Response> {` },
      { depth: 1, text: `const body = await req.json();` },
      { depth: 1, text: `const out = ${callerFn.name}(body);` },
      { depth: 1, text: `return Response.json(out);` },
      { depth: 0, text: "}" },
    ],
  });
  for (let i = 0; i < 4; i++) {
    const other = rng.pick(all).fns[0]!;
    const name = `handle${cap(other.name)}${i}`;
    routes.fns.push({
      name,
      lines: [
        { depth: 0, text: `export async function ${name}(req: Request): Promise<Response> {` },
        { depth: 1, text: `return Response.json(${other.name}(await req.json()));` },
        { depth: 0, text: "}" },
      ],
    });
  }
  const crashNoun = crashFile.path.split("/").pop()!.replace(".ts", "");
  const crashDomain = crashFile.path.split("/")[1]!;
  const field = /entry\.(\w+)/.exec(crashFn.lines[L.compute]!.text)![1]!;
  // The store the crash function reads (a callee not on the stack when it returns normally).
  const helperPath = `src/lib/${crashNoun}-store.ts`;
  const helper: SourceFile = {
    path: helperPath,
    indent: 2,
    header: [{ depth: 0, text: `import { db } from "./db";` }],
    fns: [
      {
        name: `load${cap(crashNoun)}`,
        lines: [
          { depth: 0, text: `export function load${cap(crashNoun)}(id: string): ${cap(crashNoun)}Record {` },
          { depth: 1, text: `const row = db.${crashNoun}s.get(id);` },
          { depth: 1, text: `return { id, ${crashNoun}s: row.${crashNoun}s, ${field}: row.${field} };` },
          { depth: 0, text: "}" },
        ],
      },
    ],
  };
  b.files.set(helperPath, helper);
  for (const f of b.files.values()) Object.assign(changes, emit(b, f));
  const configPath = `config/${crashDomain}.json`;
  changes[configPath] = configJson(crashNoun, field, true);
  changes["README.md"] = ["# shop", "", "The checkout service."];
  changes["docs/architecture.md"] = ["# Architecture", "", "Routes call services that call stores."];
  changes[`test/${crashDomain}.test.ts`] = [
    `import { ${crashFn.name} } from "../src/${crashDomain}/${crashNoun}";`,
  ];
  b.h.commit("Initial import", PEOPLE[0]!, importAt, changes);
  return {
    crash: { file: crashFile.path, fn: crashFn.name, noun: crashNoun, field, domain: crashDomain },
    caller: { file: callerFile.path, fn: callerFn.name },
    route: { file: routes.path, fn: handler },
    helper: { file: helperPath, fn: `load${cap(crashNoun)}`, noun: crashNoun },
    config: configPath,
    sourceFiles: all.map((f) => f.path),
  };
}

function configJson(noun: string, field: string, withField: boolean): string[] {
  return [
    "{",
    `  "${noun}": {`,
    `    "cacheSeconds": 300,`,
    ...(withField ? [`    "${field}": { "default": 1 },`] : []),
    `    "enabled": true`,
    "  }",
    "}",
  ];
}

function fnOf(files: Map<string, SourceFile>, path: string, name: string): Fn {
  const fn = files.get(path)!.fns.find((f) => f.name === name);
  if (!fn) throw new Error(`no function ${name} in ${path}`);
  return fn;
}

// ---------------------------------------------------------------------------------------------------
// one scenario

const ERROR_PATHS = [
  (p: string) => ({ filename: p, absPath: `/srv/app/${p}` }),
  (p: string) => ({ filename: `/app/dist/${p}`, absPath: `/app/dist/${p}` }),
  (p: string) => ({ filename: `webpack:///./${p}`, absPath: `webpack:///./${p}` }),
  (p: string) => ({ filename: `app:///${p.replace(/^src\//, "build/src/")}`, absPath: `app:///${p}` }),
];

export function generate(
  h: History,
  index: number,
  stratum: Stratum,
  seed: number,
): Omit<Scenario, "history"> & { history: History } {
  const rng = new Rng(seed);
  const b: Builder = {
    rng,
    h,
    files: new Map(),
    nextPr: 100 + rng.int(0, 50),
    nextTicket: 1000 + index * 20,
    tickets: [],
    prs: [],
    events: [],
  };
  const t0 = T0.getTime();
  const at = (ms: number) => new Date(t0 + ms);
  const sk = skeleton(b, at(-40 * DAY));
  const traps: string[] = [];
  const who = () => rng.pick(PEOPLE.slice(1));

  // Tickets no PR implements, in progress during the window (what inference must not pick).
  for (let i = 0; i < 3; i++) {
    const noun = rng.pick(rng.pick(DOMAINS).nouns);
    const start = t0 - rng.int(2, 12) * DAY;
    b.tickets.push({
      key: `PAY-${b.nextTicket++}`,
      summary: rng.pick([
        `Audit ${noun} retention`,
        `Quarterly ${noun} report`,
        `Investigate slow ${noun} exports`,
      ]),
      description: `Follow-up from the ${noun} review.`,
      assignee: rng.pick(PEOPLE),
      created: new Date(start - 2 * DAY),
      inProgressAt: new Date(start),
      doneAt: new Date(start + rng.int(2, 6) * DAY),
    });
  }

  // A few older PRs (outside the 14-day lookback).
  for (let i = 0; i < 3; i++) {
    const path = rng.pick(sk.sourceFiles);
    const fnIdx = rng.int(0, b.files.get(path)!.fns.length - 1);
    pr(b, {
      title: `Tune ${path.split("/")[1]} ${rng.pick(FIELDS)} handling`,
      body: "Small adjustments.",
      author: who(),
      at: at(-rng.int(20, 35) * DAY),
      edit: (files) => {
        const f = files.get(path)!;
        f.fns[fnIdx]!.lines[L.log] = { depth: 1, text: `log.info("${f.fns[fnIdx]!.name}", value);` };
        return emit(b, f);
      },
    });
  }
  flush(b);

  // Deploys: the previous one 3-5 days before, the current one 1-6 hours before first-seen.
  const prevDeployAt = at(-rng.int(72, 120) * HOUR);
  const curDeployAt = at(-rng.int(1, 6) * HOUR);
  const deploys: Scenario["deploys"] = [];
  const base = 40 + index;
  b.events.push({
    at: prevDeployAt.getTime(),
    run: () => deploys.push({ version: `2026.10.${base}`, at: prevDeployAt, mark: markOfMain(h) }),
  });
  b.events.push({
    at: curDeployAt.getTime(),
    run: () => {
      deploys.push({ version: `2026.10.${base + 1}`, at: curDeployAt, mark: markOfMain(h) });
      computeFrames();
    },
  });

  // When the culprit merges: in the current release, or (latent) ten days before.
  const culpritAt =
    stratum === "S8"
      ? at(-rng.int(9, 12) * DAY)
      : new Date(
          prevDeployAt.getTime() +
            rng.int(2, Math.max(3, (curDeployAt.getTime() - prevDeployAt.getTime()) / HOUR - 2)) * HOUR,
        );
  const crash = sk.crash;
  const newField = rng.pick(
    ["tiers", "override", "limits", "rules", "meta"].filter((x) => x !== crash.field),
  );
  const culpritAuthor = who();
  let message = "";
  const errorType = "TypeError";
  let culpritNumber = 0;
  let culpritTitle = "";
  let culpritMark = 0;
  let culpritBefore: Changes = {};
  const onMerged = (mark: number, n: number, before: Changes) => {
    culpritMark = mark;
    culpritNumber = n;
    culpritBefore = before;
  };

  if (stratum === "S1" || stratum === "S8") {
    culpritTitle = rng.pick([
      `Read ${crash.noun} ${crash.field} from the ${newField} table`,
      `Support per-region ${crash.noun} ${newField}`,
      `Move ${crash.noun} ${crash.field} lookup to ${newField}`,
    ]);
    message = `Cannot read properties of undefined (reading '${crash.field}')`;
    culpritNumber = pr(b, {
      title: culpritTitle,
      body: `The ${crash.noun} ${crash.field} now comes from ${newField}.`,
      author: culpritAuthor,
      at: culpritAt,
      onMerged,
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        fn.lines[L.compute] = {
          depth: 1,
          text: `const value = compute${cap(crash.fn)}(entry.${newField}.${crash.field}, step);`,
        };
        return emit(b, files.get(crash.file)!);
      },
    });
  } else if (stratum === "S2") {
    culpritTitle = `Pass the ${crash.noun} ${newField} through ${sk.caller.fn}`;
    message = `Cannot read properties of undefined (reading '${rng.pick(FIELDS)}')`;
    culpritNumber = pr(b, {
      title: culpritTitle,
      body: `Callers now hand over only the ${newField} part of the request.`,
      author: culpritAuthor,
      at: culpritAt,
      onMerged,
      edit: (files) => {
        const fn = fnOf(files, sk.caller.file, sk.caller.fn);
        fn.lines[L.call] = { depth: 1, text: `const step = ${crash.fn}(input.${newField});` };
        return emit(b, files.get(sk.caller.file)!);
      },
    });
  } else if (stratum === "S3") {
    culpritTitle = rng.pick([
      `Simplify ${crash.fn}`,
      `Drop the empty ${crash.noun} fallback`,
      `Remove dead branch in ${crash.noun} handling`,
    ]);
    message = `Cannot read properties of null (reading '${crash.field}')`;
    culpritNumber = pr(b, {
      title: culpritTitle,
      body: "The fallback was never hit in production.",
      author: culpritAuthor,
      at: culpritAt,
      onMerged,
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        fn.lines.splice(L.guard, 3);
        return emit(b, files.get(crash.file)!);
      },
    });
  } else if (stratum === "S4") {
    const viaConfig = rng.chance(0.5);
    message = `Cannot read properties of undefined (reading '${crash.field}')`;
    if (viaConfig) {
      culpritTitle = rng.pick([
        `Trim unused ${crash.noun} settings from config`,
        `Clean up ${crash.domain} configuration`,
      ]);
      culpritNumber = pr(b, {
        title: culpritTitle,
        body: `Removes the ${crash.field} default that nothing seemed to read.`,
        author: culpritAuthor,
        at: culpritAt,
        onMerged,
        edit: () => ({ [sk.config]: configJson(crash.noun, crash.field, false) }),
      });
      traps.push("config");
    } else {
      culpritTitle = rng.pick([
        `Load ${crash.noun} records lazily`,
        `Stop copying ${crash.field} in the ${crash.noun} store`,
      ]);
      culpritNumber = pr(b, {
        title: culpritTitle,
        body: `The store returns ${crash.noun}s only; ${crash.field} is read on demand.`,
        author: culpritAuthor,
        at: culpritAt,
        onMerged,
        edit: (files) => {
          const f = files.get(sk.helper.file)!;
          f.fns[0]!.lines[2] = { depth: 1, text: `return { id, ${crash.noun}s: row.${crash.noun}s };` };
          return emit(b, f);
        },
      });
      traps.push("callee");
    }
  } else {
    // S9: a metric alert; the culprit is in the current release, with concurrent unrelated PRs.
    culpritTitle = rng.pick([
      `Call the ${crash.noun} service synchronously in checkout`,
      `Retry ${crash.noun} lookups on timeout`,
      `Add ${crash.noun} validation to the checkout path`,
    ]);
    culpritNumber = pr(b, {
      title: culpritTitle,
      body: `Checkout now waits for the ${crash.noun} service.`,
      author: culpritAuthor,
      at: culpritAt,
      onMerged,
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        fn.lines[L.call] = {
          depth: 1,
          text: `const step = await ${crash.noun}Client.fetch(input.id, { retries: 3 });`,
        };
        return emit(b, files.get(crash.file)!);
      },
    });
  }

  // The frames point at the deployed content: computed when the current deploy happens.
  let frames: FrameSpec[] = [];
  const style = rng.chance(0.5) ? ERROR_PATHS[0]! : rng.pick(ERROR_PATHS);
  if (stratum !== "S9" && style !== ERROR_PATHS[0]) traps.push("path mapping");
  const computeFrames = () => {
    if (stratum === "S9") return;
    const frame = (path: string, fnName: string, text: string): FrameSpec => ({
      ...style(path),
      lineno: lineOf(b.files.get(path)!, text),
      function: fnName,
    });
    const crashFn = fnOf(b.files, crash.file, crash.fn);
    const computeLine = crashFn.lines.find((l) => l.text.startsWith("const value ="))!.text;
    const callerFn = fnOf(b.files, sk.caller.file, sk.caller.fn);
    const callLine = callerFn.lines.find((l) => l.text.startsWith(`const step = ${crash.fn}(`))!.text;
    const routeFn = fnOf(b.files, sk.route.file, sk.route.fn);
    frames = [
      frame(crash.file, crash.fn, computeLine),
      frame(sk.caller.file, sk.caller.fn, callLine),
      frame(sk.route.file, sk.route.fn, routeFn.lines[2]!.text),
    ];
  };

  // Rivals: same-file PRs in the window, one maybe in the crash function itself.
  const crashFile = b.files.get(crash.file)!;
  const rivals = rng.int(2, 4);
  for (let i = 0; i < rivals; i++) {
    const others = crashFile.fns.filter((f) => f.name !== crash.fn);
    const target = rng.pick(others).name;
    const when = at(-rng.int(3, 300) * HOUR);
    pr(b, {
      title: `Log ${target} ${rng.pick(FIELDS)} changes`,
      body: `More context in ${target} logs.`,
      author: who(),
      at: when,
      edit: (files) => {
        const fn = fnOf(files, crash.file, target);
        const idx = fn.lines.findIndex((l) => l.text.startsWith("log."));
        fn.lines[idx] = { depth: 1, text: `log.info("${target}", { value, at: Date.now() });` };
        return emit(b, files.get(crash.file)!);
      },
    });
  }
  if (stratum !== "S9" && rng.chance(0.3)) {
    traps.push("same-function rival");
    pr(b, {
      title: `Add debug context to ${crash.fn}`,
      body: "Helps support read the logs.",
      author: who(),
      at: at(-rng.int(3, 200) * HOUR),
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        const idx = fn.lines.findIndex((l) => l.text.startsWith("log."));
        fn.lines[idx] = { depth: 1, text: `log.debug("${crash.fn}", { value, input });` };
        return emit(b, files.get(crash.file)!);
      },
    });
  }
  // Unrelated PRs in other files, docs and tests.
  const unrelated = rng.int(4, 8);
  for (let i = 0; i < unrelated; i++) {
    const path = rng.pick(sk.sourceFiles.filter((p) => p !== crash.file));
    const d = path.split("/")[1]!;
    const noun = path.split("/").pop()!.replace(".ts", "");
    const fnIdx = rng.int(0, b.files.get(path)!.fns.length - 1);
    pr(b, {
      title: rng.pick([
        `Add ${noun} ${rng.pick(FIELDS)} to ${d} responses`,
        `Handle missing ${noun} in ${d}`,
        `Speed up ${noun} lookups`,
      ]),
      body: `Part of the ${d} cleanup.`,
      author: who(),
      at: at(-rng.int(2, 320) * HOUR),
      edit: (files) => {
        const f = files.get(path)!;
        const fn = f.fns[fnIdx]!;
        fn.lines.splice(L.log, 0, { depth: 1, text: `metrics.count("${fn.name}.${rng.pick(FIELDS)}");` });
        return emit(b, f);
      },
    });
  }
  pr(b, {
    title: "Document the checkout flow",
    body: "Docs only.",
    author: who(),
    at: at(-rng.int(5, 200) * HOUR),
    jira: "none",
    edit: () => ({
      "docs/architecture.md": [
        "# Architecture",
        "",
        "Routes call services that call stores.",
        "",
        "Checkout is synchronous.",
      ],
    }),
  });
  pr(b, {
    title: `Cover ${crash.fn} with tests`,
    body: "Tests only.",
    author: who(),
    at: at(-rng.int(5, 200) * HOUR),
    jira: "none",
    edit: () => ({
      [`test/${crash.domain}.test.ts`]: [
        `import { ${crash.fn} } from "../src/${crash.domain}/${crash.noun}";`,
        `test("${crash.fn}", () => {});`,
      ],
    }),
  });

  // S5: a formatting-only PR re-indents the crash file after the culprit.
  if (stratum !== "S9" && rng.chance(0.35)) {
    traps.push("reformat");
    pr(b, {
      title: `Reformat ${crash.domain} module`,
      body: "Indentation only, no behaviour change.",
      author: who(),
      at: new Date(
        Math.min(
          curDeployAt.getTime() - HOUR,
          Math.max(culpritAt.getTime() + HOUR, t0 - rng.int(2, 40) * HOUR),
        ),
      ),
      jira: "none",
      edit: (files) => {
        const f = files.get(crash.file)!;
        f.indent = 4;
        return emit(b, f);
      },
    });
  }
  // A sweeping refactor touching every source file (the crash function's log line included).
  if (stratum !== "S9" && rng.chance(0.3)) {
    traps.push("sweeping refactor");
    pr(b, {
      title: "Switch every module to the structured logger",
      body: "Mechanical rename of log to logger across the codebase.",
      author: who(),
      at: at(-rng.int(7, 100) * HOUR),
      edit: (files) => {
        const out: Changes = {};
        for (const p of sk.sourceFiles) {
          const f = files.get(p)!;
          f.header[0] = { depth: 0, text: `import { logger as log } from "../lib/logger";` };
          for (const fn of f.fns)
            for (const [i, l] of fn.lines.entries())
              if (l.text.startsWith("log."))
                fn.lines[i] = { depth: l.depth, text: l.text.replace(/^log\./, "log.structured.") };
          Object.assign(out, emit(b, f));
        }
        return out;
      },
    });
  }
  // A PR merged after the current deploy but before first-seen, touching the crash line: not deployed.
  if (stratum !== "S9" && rng.chance(0.25)) {
    traps.push("merged after deploy");
    pr(b, {
      title: `Harden ${crash.fn} against missing ${crash.field}`,
      body: "Defensive fix.",
      author: who(),
      at: new Date(curDeployAt.getTime() + 20 * 60_000),
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        const i = fn.lines.findIndex((l) => l.text.startsWith("const value ="));
        fn.lines[i] = { depth: 1, text: fn.lines[i]!.text.replace(/entry\./, "entry?.") };
        return emit(b, files.get(crash.file)!);
      },
    });
  }
  // Metric alerts: concurrent unrelated PRs in the same current release.
  if (stratum === "S9") {
    for (let i = 0; i < rng.int(1, 3); i++) {
      const path = rng.pick(sk.sourceFiles.filter((p) => p !== crash.file));
      const noun = path.split("/").pop()!.replace(".ts", "");
      pr(b, {
        title: rng.pick([
          `Rename ${noun} fields`,
          `Show ${noun} badges in the account page`,
          `Tidy ${noun} helpers`,
        ]),
        body: "No functional change intended.",
        author: who(),
        at: new Date(prevDeployAt.getTime() + rng.int(2, 60) * HOUR),
        edit: (files) => {
          const f = files.get(path)!;
          f.fns[0]!.lines.splice(L.log, 0, { depth: 1, text: `metrics.count("${f.fns[0]!.name}.render");` });
          return emit(b, f);
        },
      });
    }
  }
  flush(b);

  // After first-seen: a fix rewriting the crash line (S6) and maybe a revert of the culprit (S10).
  if (stratum !== "S9" && rng.chance(0.4)) {
    traps.push("fix after first-seen");
    pr(b, {
      title: `Fix ${errorType} in ${crash.fn}`,
      body: `Guards ${crash.field} when it is missing.`,
      author: who(),
      at: at(rng.int(2, 30) * HOUR),
      edit: (files) => {
        const fn = fnOf(files, crash.file, crash.fn);
        const i = fn.lines.findIndex((l) => l.text.startsWith("const value ="));
        fn.lines[i] = {
          depth: 1,
          text: `const value = compute${cap(crash.fn)}(entry?.${crash.field} ?? 0, step);`,
        };
        return emit(b, files.get(crash.file)!);
      },
    });
  }
  if (rng.chance(0.2)) {
    traps.push("reverted");
    pr(b, {
      title: `Revert "${culpritTitle}"`,
      body: `Reverts acme/shop#${culpritNumber}`,
      author: who(),
      at: at(rng.int(31, 48) * HOUR),
      workflow: "squash",
      jira: "none",
      decoy: false,
      // The content before the culprit (files the code model holds are re-synced to it).
      edit: (files) => {
        for (const p of Object.keys(culpritBefore)) files.delete(p);
        return culpritBefore;
      },
    });
  }
  flush(b);

  const onStack = stratum === "S1" || stratum === "S2" || stratum === "S3" || stratum === "S8";
  const r = rng.next();
  const scenario: Scenario = {
    id: `${String(index).padStart(2, "0")}-${stratum}`,
    seed,
    stratum,
    traps,
    onStack,
    history: h,
    t0: T0,
    culprit: { number: culpritNumber, title: culpritTitle, mark: culpritMark },
    deploys,
    release: r < 0.4 ? "sha" : r < 0.8 ? "version" : "none",
    tickets: b.tickets,
    prs: b.prs,
  };
  if (stratum === "S9") {
    scenario.metric = {
      title: rng.pick([`Checkout API error rate is high`, `Checkout ${crash.noun} latency p99 is high`]),
      metric: rng.pick(["trace.http.request.errors", "trace.http.request.duration"]),
    };
  } else {
    scenario.error = { type: errorType, message, frames };
  }
  return scenario;
}

function markOfMain(h: History): number {
  return h.tip;
}
