import { createWriteStream, existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import type { Database } from "../../db/client.ts";
import type { Config } from "../config.ts";
import { systemContext } from "../context.ts";
import type { ResolvedKeys } from "../keys.ts";
import { BundleSyntaxError } from "./bundles/bundle-reader.ts";
import { bundleJson, bundleMarkdown, prepareExport } from "./bundles/export.ts";
import { CRITERIA, type Criterion } from "./bundles/format.ts";
import { resolveExportRequest } from "./bundles/request.ts";
import { BundleVerificationError, verifyBundleFile } from "./bundles/verify.ts";
import { GitCheckpointPublisher } from "./checkpoint-git.ts";
import { type EvidenceDeps, refreshCheckpoint } from "./checkpoints.ts";
import { parseCheckpointKey } from "./signer.ts";

export interface EvidenceCliHelpers {
  withStore<T>(fn: (ctx: { config: Config; db: Database }) => Promise<T>): Promise<T>;
  bootConfig(): Config;
  resolveKeys(config: Config): Promise<ResolvedKeys>;
  logger: Logger;
  usage(message: string): Error;
  out(text: string): void;
  err(text: string): void;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function evidenceDeps(h: EvidenceCliHelpers, config: Config, db: Database): Promise<EvidenceDeps> {
  const keys = await h.resolveKeys(config);
  const { publishDir, publishGit } = config.checkpoints;
  return {
    db,
    logger: h.logger,
    key: parseCheckpointKey(keys.checkpointKey),
    ...(publishDir ? { publishDir } : {}),
    ...(publishGit ? { publishGit: new GitCheckpointPublisher(publishGit) } : {}),
  };
}

/** `--key` takes a verifier key (`name+hex+base64`) or a file holding one key per line. */
async function readKeys(values: string[] | undefined): Promise<string[]> {
  const keys: string[] = [];
  for (const v of values ?? []) {
    if (!v.includes("+") && existsSync(v)) {
      keys.push(
        ...(await readFile(v, "utf8"))
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean),
      );
    } else keys.push(v);
  }
  return keys;
}

/** `causeway export|verify|audit …`; returns the exit code. */
export async function runEvidenceCli(
  command: string,
  args: string[],
  h: EvidenceCliHelpers,
): Promise<number> {
  if (command === "verify") {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: { key: { type: "string", multiple: true }, json: { type: "boolean" } },
    });
    if (positionals.length !== 1) throw h.usage("verify needs exactly one BUNDLE.json");
    const keys = await readKeys(values.key);
    let report: Awaited<ReturnType<typeof verifyBundleFile>>;
    try {
      // Streamed: a year's bundle is hundreds of MB, and JSON.parse of it needs several times that.
      report = await verifyBundleFile(positionals[0]!, { keys });
    } catch (error) {
      if (error instanceof BundleVerificationError) {
        if (values.json)
          h.out(`${JSON.stringify({ ok: false, where: error.where, error: error.message })}\n`);
        h.err(`causeway: verification FAILED at ${error.message}\n`);
        return 1;
      }
      // A file that is not bundle JSON, or that cannot be opened, is not a verification verdict.
      if (error instanceof BundleSyntaxError || (error instanceof Error && "syscall" in error)) {
        h.err(`causeway: cannot read ${positionals[0]}: ${(error as Error).message}\n`);
        return 66;
      }
      throw error;
    }
    if (values.json) h.out(`${JSON.stringify({ ok: true, ...report })}\n`);
    else
      h.out(
        `OK: ${report.criterion.toUpperCase()} bundle of org ${report.org}, ${report.period.from} — ${report.period.to}\n` +
          `  ${report.rows} row(s), every inclusion proof verifies against checkpoint size ${report.treeSize} ` +
          `(root ${report.rootHash}), key id ${report.keyId}${report.keyPinned ? " (pinned)" : " (NOT pinned: taken from the bundle; pass --key)"}\n` +
          `  manifest: row count, order and summary match\n` +
          (report.consistency
            ? `  consistent with the previous export's checkpoint (size ${report.consistency.fromSize})\n`
            : "  no previous checkpoint: first export of this criterion\n"),
      );
    return 0;
  }

  if (command === "audit") {
    const [sub, ...rest] = args;
    if (sub === "keys") {
      parseArgs({ args: rest, options: {} });
      const config = h.bootConfig();
      const key = parseCheckpointKey((await h.resolveKeys(config)).checkpointKey);
      h.out(`${key.verifierKey}\n`);
      h.err(`Key id ${key.keyId} (Ed25519). Pin it and pass it to \`causeway verify --key\`.\n`);
      return 0;
    }
    if (sub === "checkpoint") {
      const { values } = parseArgs({ args: rest, options: { org: { type: "string" } } });
      if (!values.org || !UUID.test(values.org)) throw h.usage("audit checkpoint needs --org ORG_ID");
      const note = await h.withStore(async ({ config, db }) => {
        const deps = await evidenceDeps(h, config, db);
        return (await refreshCheckpoint(deps, values.org!)).note;
      });
      h.out(note);
      return 0;
    }
    throw h.usage("audit: expected `keys` or `checkpoint`");
  }

  // export
  const [criterion, ...rest] = args;
  if (criterion === undefined || !CRITERIA.includes(criterion as Criterion)) {
    throw h.usage("export: expected cc7.1 or cc8.1");
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      org: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      period: { type: "string" },
      format: { type: "string" },
      "redact-paths": { type: "boolean" },
      out: { type: "string" },
    },
  });
  if (!values.org || !UUID.test(values.org)) throw h.usage("export needs --org ORG_ID");
  if (!values.out) throw h.usage("export needs --out FILE");
  const format = values.format ?? "json";
  if (format !== "json" && format !== "markdown") throw h.usage("--format must be json or markdown");
  const request = resolveExportRequest(criterion as Criterion, {
    from: values.from,
    to: values.to,
    period: values.period,
    redactPaths: Boolean(values["redact-paths"]),
  });
  const result = await h.withStore(async ({ config, db }) => {
    const deps = await evidenceDeps(h, config, db);
    const ctx = systemContext(values.org!, "cli:export");
    const prepared = await prepareExport(deps, ctx, request);
    const gen = format === "markdown" ? bundleMarkdown(deps, prepared) : bundleJson(deps, prepared);
    await pipeline(Readable.from(gen), createWriteStream(values.out!));
    return { prepared, vkey: deps.key.verifierKey };
  });
  h.out(
    `Wrote ${result.prepared.rowSeqs.length} ${criterion.toUpperCase()} row(s) to ${values.out} ` +
      `(checkpoint size ${result.prepared.checkpointSize}).\n` +
      (format === "json" ? `Verify: causeway verify ${values.out} --key '${result.vkey}'\n` : ""),
  );
  return 0;
}
