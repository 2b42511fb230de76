import { createRoute, z } from "@hono/zod-openapi";
import { problemResponses } from "../http/problem.ts";
import { secured } from "../http/route-security.ts";
import { createRouter } from "../http/router.ts";
import { complianceRoutes } from "./bundles/routes.ts";
import type { EvidenceDeps } from "./checkpoints.ts";
import {
  getConsistencyProof,
  getInclusionProof,
  getLatestCheckpoint,
  getVerifierKeys,
} from "./proofs-service.ts";

// Tree positions are uint64 in RFC 9162, but the log stores them in Postgres bigint (signed): anything at
// or above 2^63 can name no entry or checkpoint, and would fail in the database rather than validate here.
const Uint64 = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,19})$/, "a decimal integer without leading zeros")
  .refine((s) => /^[0-9]{1,20}$/.test(s) && BigInt(s) < 1n << 63n, "must be below 2^63");

const CheckpointSchema = z
  .object({
    origin: z.string(),
    size: z.string().openapi({ description: "Tree size (uint64, decimal)" }),
    rootHash: z.string().openapi({ description: "Base64 RFC 6962 root" }),
    note: z.string().openapi({ description: "The C2SP signed note, byte for byte" }),
    keyName: z.string(),
    keyId: z.string(),
    signedAt: z.iso.datetime(),
  })
  .openapi("AuditCheckpoint");

const EntrySchema = z
  .object({
    v: z.literal(1),
    org: z.string(),
    seq: z.string(),
    at: z.string(),
    actor: z.object({ kind: z.string(), id: z.string() }),
    action: z.string(),
    subject: z.object({ type: z.string(), id: z.string().nullable() }),
    data: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
  })
  .openapi("CanonicalAuditEntry");

const wireCheckpoint = (c: Awaited<ReturnType<typeof getLatestCheckpoint>>) => ({
  ...c,
  signedAt: c.signedAt.toISOString(),
});

const errors = problemResponses("unauthenticated", "forbidden");

/** Checkpoints, verifier keys and proofs of the org's audit tree. Sizes come from stored checkpoints only. */
export function auditEvidenceRoutes(deps: EvidenceDeps) {
  const router = createRouter();

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/audit/checkpoint",
      tags: ["audit"],
      summary: "The latest signed checkpoint of the org's audit log (signed now if the log grew)",
      ...secured("member"),
      responses: {
        200: { description: "the checkpoint", content: { "application/json": { schema: CheckpointSchema } } },
        ...errors,
      },
    }),
    async (c) => c.json(wireCheckpoint(await getLatestCheckpoint(deps, c.get("auth"))), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/audit/keys",
      tags: ["audit"],
      summary: "Verifier keys of the checkpoint signatures, to pin",
      ...secured("member"),
      responses: {
        200: {
          description: "the verifier keys",
          content: {
            "application/json": {
              schema: z
                .object({
                  keys: z.array(
                    z.object({
                      name: z.string(),
                      keyId: z.string(),
                      vkey: z.string(),
                      algorithm: z.literal("ed25519"),
                    }),
                  ),
                })
                .openapi("AuditKeys"),
            },
          },
        },
        ...errors,
      },
    }),
    (c) => c.json(getVerifierKeys(deps, c.get("auth")), 200),
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/audit/proof/inclusion",
      tags: ["audit"],
      summary: "Inclusion proof of one entry against a stored signed checkpoint",
      ...secured("member"),
      request: { query: z.object({ index: Uint64, size: Uint64 }) },
      responses: {
        200: {
          description: "the entry, its leaf hash and its audit path (leaf to root)",
          content: {
            "application/json": {
              schema: z
                .object({
                  index: z.string(),
                  size: z.string(),
                  leafHash: z.string(),
                  entry: EntrySchema,
                  proof: z.array(z.string()),
                  checkpoint: CheckpointSchema,
                })
                .openapi("InclusionProof"),
            },
          },
        },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const view = await getInclusionProof(deps, c.get("auth"), {
        index: BigInt(q.index),
        size: BigInt(q.size),
      });
      return c.json({ ...view, checkpoint: wireCheckpoint(view.checkpoint) }, 200);
    },
  );

  router.openapi(
    createRoute({
      method: "get",
      path: "/api/v1/audit/proof/consistency",
      tags: ["audit"],
      summary: "Consistency proof between two stored signed checkpoints",
      ...secured("member"),
      request: { query: z.object({ from: Uint64, to: Uint64 }) },
      responses: {
        200: {
          description: "the RFC 9162 consistency proof",
          content: {
            "application/json": {
              schema: z
                .object({
                  from: z.string(),
                  to: z.string(),
                  proof: z.array(z.string()),
                  fromCheckpoint: CheckpointSchema.nullable(),
                  toCheckpoint: CheckpointSchema,
                })
                .openapi("ConsistencyProof"),
            },
          },
        },
        ...problemResponses("unauthenticated", "forbidden", "not_found", "validation_failed"),
      },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const view = await getConsistencyProof(deps, c.get("auth"), { from: BigInt(q.from), to: BigInt(q.to) });
      return c.json(
        {
          ...view,
          fromCheckpoint: view.fromCheckpoint ? wireCheckpoint(view.fromCheckpoint) : null,
          toCheckpoint: wireCheckpoint(view.toCheckpoint),
        },
        200,
      );
    },
  );

  return router;
}

/** Every evidence route: the audit tree's checkpoints and proofs, and the compliance bundles. */
export function evidenceRoutes(deps: EvidenceDeps) {
  const router = createRouter();
  router.route("/", auditEvidenceRoutes(deps));
  router.route("/", complianceRoutes(deps));
  return router;
}
