import { createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../../src/errors.ts";
import { jsonOf, useTestApp } from "../harness/app.ts";
import { makeOrg } from "../harness/factories.ts";

/**
 * Every /api/v1 operation in the served OpenAPI document gets a bounded run of malformed requests, sent
 * with the owner's API key: bad path params, wrong query types, bad cursors and dates, repeated keys,
 * invalid or wrongly shaped JSON, deep nesting, huge strings, wrong content types, empty bodies. The
 * answer is never a 5xx, and every 4xx is problem+json with a code from the one vocabulary.
 *
 * Rate limits are raised for this app (the limiter still runs and still counts every request): with the
 * production 100/min, 20/min and 5 per 5 min the run would mostly measure the limiter, not the handlers.
 */
const RUNS_PER_OPERATION = Number(process.env.API_FUZZ_RUNS ?? 15);
const LIMIT = 1_000_000;

// biome-ignore lint/suspicious/noExplicitAny: the OpenAPI document is read as loose JSON
type Json = any;

interface Operation {
  method: string;
  path: string;
  params: Array<{ in: string; name: string; schema: Json }>;
  body: Json | undefined;
  /** Sign-in, refresh, accepting an invitation: no credential needed, so a 401 is the handler's answer. */
  public: boolean;
}

interface FuzzRequest {
  path: string;
  query: Array<[string, string]>;
  contentType: string | undefined;
  body: string | undefined;
}

const b64 = (s: string) => Buffer.from(s).toString("base64url");

const BAD_DATES = [
  "",
  "yesterday",
  "2024-02-30T00:00:00Z",
  "2024-13-01",
  "0000-01-01T00:00:00Z",
  "0000-01-01",
  "-271821-04-20T00:00:00.000Z",
  "+275760-09-13T00:00:00.000Z",
  "9999-12-31T23:59:59.999Z",
  "2024-01-01T25:61:00Z",
  "2024-01-01T00:00:00+25:00",
  "1e20",
  "NaN",
];

const BAD_NUMBERS = [
  "-1",
  "0",
  "-0",
  "1.5",
  "1e309",
  "NaN",
  "Infinity",
  "-Infinity",
  "0x10",
  " 5",
  "99999999999999999999",
  "9223372036854775808",
  "18446744073709551616",
  "abc",
  "",
];

const BAD_UUIDS = [
  "------------------------------------",
  "ffffffff-ffff-ffff-ffff-ffffffffffff",
  "00000000-0000-0000-0000-000000000000",
  "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz",
  "abc",
];

/** Cursors a client could forge: garbage, and well-formed containers holding values out of range. */
const badCursor = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ maxLength: 40 }).map(b64),
  fc
    .tuple(fc.constantFrom(...BAD_DATES, "2024-01-01T00:00:00Z"), fc.constantFrom(...BAD_UUIDS))
    .map(([at, id]) => b64(JSON.stringify([at, id]))),
  fc.constantFrom(...BAD_UUIDS, "x").map((id) => b64(JSON.stringify({ after: id }))),
  fc.constantFrom("0", "-1", "9999999999999999999", "9223372036854775808", "1.5").map((n) => b64(`seq:${n}`)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => b64(JSON.stringify(v))),
);

const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ maxLength: 20, unit: "binary" }),
  fc.constantFrom(
    "__proto__",
    "constructor",
    "toString",
    "hasOwnProperty",
    "\u0000",
    "null",
    "undefined",
    "true",
    "[object Object]",
    "' or 1=1 --",
    "%",
    "ünïcødé 🙂",
    "a".repeat(5_000),
  ),
);

function queryValue(schema: Json, name: string): fc.Arbitrary<string> {
  const choices: fc.Arbitrary<string>[] = [weirdString, fc.constantFrom(...BAD_NUMBERS)];
  if (name === "cursor") choices.push(badCursor, badCursor);
  if (schema?.format === "date-time" || /from|to|since|until/i.test(name) || schema?.pattern) {
    choices.push(
      fc.constantFrom(...BAD_DATES),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    );
  }
  if (schema?.type === "integer" || schema?.type === "number" || schema?.pattern) {
    choices.push(
      fc.constantFrom(...BAD_NUMBERS),
      fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
    );
  }
  if (schema?.format === "uuid") choices.push(fc.constantFrom(...BAD_UUIDS), fc.uuid());
  // Sometimes a valid value, so the other parameters reach the handler.
  if (Array.isArray(schema?.enum)) choices.push(fc.constantFrom(...schema.enum.map(String)));
  return fc.oneof(...choices);
}

const pathSegment = fc.oneof(
  fc.constantFrom(
    "not-a-uuid",
    "%00",
    "%E0%A4%A",
    "%",
    "%2F..%2F",
    "..",
    "-1",
    "1e309",
    "__proto__",
    "constructor",
    encodeURIComponent("ünïcødé-🙂"),
    "a".repeat(10_000),
    ...BAD_UUIDS.slice(0, 4),
  ),
  fc.uuid(),
  fc.string({ minLength: 1, maxLength: 60 }).map(encodeURIComponent),
  fc.string({ minLength: 1, maxLength: 20, unit: "binary" }).map(encodeURIComponent),
);

function deep(depth: number, open: string, close: string, leaf = "1"): string {
  return open.repeat(depth) + leaf + close.repeat(depth);
}

/** Values of the wrong kind for any field: the schema is read only to name the fields. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    -1,
    0,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER + 2,
    true,
    "",
    [],
    {},
    "__proto__",
    "x".repeat(100_000),
    "\u0000",
    "2024-02-30T00:00:00Z",
    "-271821-04-20T00:00:00.000Z",
  ),
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer({ min: 50, max: 3_000 }).map((n) => JSON.parse(deep(n, '{"a":', "}")) as unknown),
);

function propertiesOf(schema: Json, doc: Json): Record<string, Json> {
  const resolved = schema?.$ref ? doc.components.schemas[schema.$ref.split("/").at(-1)] : schema;
  if (!resolved) return {};
  const merged: Record<string, Json> = { ...(resolved.properties ?? {}) };
  for (const part of [...(resolved.allOf ?? []), ...(resolved.anyOf ?? []), ...(resolved.oneOf ?? [])]) {
    Object.assign(merged, propertiesOf(part, doc));
  }
  return merged;
}

/** A field's plausible value (an enum member, a uuid, a date) or a wrong one. */
function fieldValue(schema: Json): fc.Arbitrary<unknown> {
  const plausible: fc.Arbitrary<unknown>[] = [];
  if (Array.isArray(schema?.enum)) plausible.push(fc.constantFrom(...schema.enum));
  if (schema?.format === "uuid") plausible.push(fc.uuid());
  if (schema?.format === "date-time")
    plausible.push(fc.date().map((d) => (Number.isNaN(d.getTime()) ? "x" : d.toISOString())));
  if (schema?.type === "string") plausible.push(fc.string({ maxLength: 30 }));
  return plausible.length ? fc.oneof(wrongValue, ...plausible) : wrongValue;
}

function bodyArbitrary(op: Operation, doc: Json): fc.Arbitrary<Pick<FuzzRequest, "contentType" | "body">> {
  const props = propertiesOf(op.body, doc);
  const names = Object.keys(props);
  const shaped: fc.Arbitrary<string> = names.length
    ? fc
        .record(Object.fromEntries(names.map((n) => [n, fieldValue(props[n])])), { requiredKeys: [] })
        .map((v) => JSON.stringify(v))
    : fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v));
  const text = fc.oneof(
    { weight: 4, arbitrary: shaped },
    fc.constantFrom("{", '{"a":', "nul", "[1,2,", "\u0000", "{'a':1}", "NaN", "", " ", "\ufeff{}", '"'),
    fc.string({ maxLength: 200 }),
    fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
    fc.constantFrom("null", "[]", "[{}]", "0", "true", '"x"', "{}"),
    fc.integer({ min: 1_000, max: 50_000 }).map((n) => deep(n, "[", "]")),
    fc.integer({ min: 1_000, max: 20_000 }).map((n) => deep(n, '{"a":', "}")),
    fc.integer({ min: 100_000, max: 1_000_000 }).map((n) => JSON.stringify({ name: "x".repeat(n) })),
  );
  const contentType = fc.oneof(
    { weight: 6, arbitrary: fc.constant("application/json") },
    fc.constantFrom(
      undefined,
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "application/json; charset=latin1",
      "application/problem+json",
      "application/xml",
      "",
    ),
  );
  return fc.oneof(
    fc.record({ contentType, body: text }),
    fc.record({ contentType, body: fc.constant(undefined) }),
  );
}

function requestArbitrary(op: Operation, doc: Json, knownIds: string[]): fc.Arbitrary<FuzzRequest> {
  const pathParams = op.params.filter((p) => p.in === "path");
  const queryParams = op.params.filter((p) => p.in === "query");
  const segment = knownIds.length ? fc.oneof(pathSegment, fc.constantFrom(...knownIds)) : pathSegment;
  const path = fc
    .tuple(...pathParams.map(() => segment))
    .map((values) => pathParams.reduce((p, param, i) => p.replace(`{${param.name}}`, values[i]!), op.path));
  const pair = (name: string, schema: Json) =>
    fc
      .array(queryValue(schema, name), { minLength: 1, maxLength: 3 })
      .map((values) => values.map((v): [string, string] => [name, v]));
  const query = fc
    .tuple(
      ...queryParams.map((p) => fc.option(pair(p.name, p.schema), { nil: undefined })),
      fc.option(pair("unexpected", {}), { nil: undefined, freq: 3 }),
    )
    .map((pairs) => pairs.flatMap((p) => p ?? []));
  const hasBody = op.method !== "GET" && op.method !== "HEAD";
  const body = hasBody
    ? bodyArbitrary(op, doc)
    : fc.constant({ contentType: undefined, body: undefined } as Pick<FuzzRequest, "contentType" | "body">);
  return fc.record({ path, query, body }).map((r) => ({ path: r.path, query: r.query, ...r.body }));
}

const FIXED_UUID = "3b241101-e2bb-4255-8caf-4136c566a962";

/** Known-nasty values per kind of query parameter: each is tried alone, in every operation, every run. */
function nastyQueryValues(schema: Json, name: string): string[] {
  const values = ["\u0000", "a".repeat(5_000), "__proto__", ""];
  if (name === "cursor") {
    values.push(
      b64(JSON.stringify(["2024-01-01T00:00:00Z", BAD_UUIDS[0]])),
      b64(JSON.stringify(["-271821-04-20T00:00:00.000Z", BAD_UUIDS[1]])),
      b64(JSON.stringify(["0000-01-01T00:00:00Z", BAD_UUIDS[1]])),
      b64("seq:9999999999999999999"),
      b64(JSON.stringify({ after: BAD_UUIDS[0] })),
      "!!not base64!!",
    );
  }
  if (schema?.format === "date-time" || schema?.pattern?.includes("\\d{4}")) {
    values.push(
      "0000-01-01T00:00:00Z",
      "0000-01-01",
      "-271821-04-20T00:00:00.000Z",
      "+275760-09-13T00:00:00.000Z",
      "2024-02-30T00:00:00Z",
      "9999-12-31T23:59:59-10:00",
    );
  }
  if (schema?.type === "integer" || schema?.type === "number" || schema?.pattern?.includes("[0-9]")) {
    values.push("-1", "1e309", "99999999999999999999", "9223372036854775808", "abc");
  }
  if (schema?.format === "uuid") values.push(BAD_UUIDS[0]!, BAD_UUIDS[1]!);
  return values;
}

const NASTY_SEGMENTS = [
  "not-a-uuid",
  "%00",
  "%E0%A4%A",
  "__proto__",
  encodeURIComponent("ünïcødé-🙂"),
  "a".repeat(10_000),
  BAD_UUIDS[0]!,
];

const NASTY_BODIES = [
  "{",
  "",
  "null",
  "[]",
  '"x"',
  deep(20_000, "[", "]"),
  deep(5_000, '{"a":', "}"),
  JSON.stringify({ name: "x".repeat(1_000_000) }),
];

const NASTY_FIELD_VALUES: unknown[] = [
  "\u0000",
  "a\u0000b",
  { a: "\u0000" },
  ["\u0000"],
  "0000-01-01T00:00:00Z",
  "x".repeat(100_000),
  1e308,
  -1,
  null,
  [],
  {},
  JSON.parse(deep(2_000, '{"a":', "}")),
];

function resolve(schema: Json, doc: Json): Json {
  return schema?.$ref ? doc.components.schemas[schema.$ref.split("/").at(-1)] : schema;
}

/** A value the schema accepts, as far as a generic reading can tell: so one bad field is all that is wrong. */
function sampleValid(raw: Json, doc: Json, depth = 0): unknown {
  const schema = resolve(raw, doc);
  if (!schema || depth > 6) return null;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum)) return schema.enum[0];
  const variants = schema.oneOf ?? schema.anyOf;
  if (variants)
    return sampleValid(variants.find((v: Json) => v.type !== "null") ?? variants[0], doc, depth + 1);
  if (schema.allOf) {
    return Object.assign({}, ...schema.allOf.map((part: Json) => sampleValid(part, doc, depth + 1)));
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t: string) => t !== "null") : schema.type;
  switch (type) {
    case "string":
      if (schema.format === "uuid") return FIXED_UUID;
      if (schema.format === "date-time") return new Date().toISOString();
      if (schema.format === "email") return "fuzz@example.test";
      if (schema.format === "uri" || schema.format === "url") return "https://example.test/fuzz";
      return "f".repeat(Math.max(schema.minLength ?? 1, 4));
    case "integer":
    case "number":
      return schema.minimum ?? 1;
    case "boolean":
      return false;
    case "array":
      return schema.minItems ? [sampleValid(schema.items, doc, depth + 1)] : [];
    case "object": {
      const out: Record<string, unknown> = {};
      for (const name of schema.required ?? [])
        out[name] = sampleValid(schema.properties?.[name], doc, depth + 1);
      return out;
    }
    default:
      return null;
  }
}

/** The fixed part of each run: every known-nasty value alone in every place it can go. */
function corpus(op: Operation, doc: Json, realId: string | undefined): FuzzRequest[] {
  const pathParams = op.params.filter((p) => p.in === "path");
  const basePath = pathParams.reduce((p, param) => p.replace(`{${param.name}}`, FIXED_UUID), op.path);
  const base: FuzzRequest = { path: basePath, query: [], contentType: undefined, body: undefined };
  const hasBody = op.method !== "GET" && op.method !== "HEAD";
  const validBody = op.body ? sampleValid(op.body, doc) : undefined;
  if (hasBody && op.body) {
    base.contentType = "application/json";
    base.body = JSON.stringify(validBody);
  }
  const out: FuzzRequest[] = [];
  for (const param of pathParams) {
    for (const segment of NASTY_SEGMENTS) {
      out.push({ ...base, path: base.path.replace(FIXED_UUID, segment) });
      if (param.name === "id") break; // uuid params: the random part covers the rest
    }
  }
  for (const param of op.params.filter((p) => p.in === "query")) {
    for (const value of nastyQueryValues(param.schema, param.name))
      out.push({ ...base, query: [[param.name, value]] });
    out.push({
      ...base,
      query: [
        [param.name, "1"],
        [param.name, "2"],
      ],
    });
  }
  if (hasBody) {
    for (const body of NASTY_BODIES) out.push({ ...base, contentType: "application/json", body });
    for (const contentType of [undefined, "text/plain", "application/x-www-form-urlencoded"]) {
      out.push({ ...base, contentType, body: base.body ?? "{}" });
    }
    const props = propertiesOf(op.body, doc);
    if (validBody && typeof validBody === "object" && !Array.isArray(validBody)) {
      for (const name of Object.keys(props)) {
        for (const value of NASTY_FIELD_VALUES) {
          // On a real row when there is one, so a value that passes validation reaches the write.
          out.push({
            ...base,
            path: realId ? op.path.replace("{id}", realId) : base.path,
            contentType: "application/json",
            body: JSON.stringify({ ...validBody, [name]: value }),
          });
        }
        // One level down: U+0000 in each field of an object-valued field (secrets, credentials, ...).
        const nested = propertiesOf(props[name], doc);
        const inner = sampleValid(props[name], doc);
        for (const field of Object.keys(nested)) {
          const object = inner && typeof inner === "object" ? inner : {};
          out.push({
            ...base,
            path: realId ? op.path.replace("{id}", realId) : base.path,
            contentType: "application/json",
            body: JSON.stringify({ ...validBody, [name]: { ...object, [field]: "a\u0000b".repeat(10) } }),
          });
        }
      }
    }
  }
  return out;
}

describe("every /api/v1 operation under malformed input", async () => {
  const t = await useTestApp(
    {},
    {
      accounts: {
        rateLimits: {
          auth: { limit: LIMIT },
          standard: { limit: LIMIT },
          ai: { limit: LIMIT },
          export: { limit: LIMIT },
        },
      },
    },
  );
  const owner = await makeOrg(t.database.db, "Fuzz org");
  const doc = await jsonOf(await t.request("/openapi.json"));

  // Real rows (an integration, and the anomaly and incident a signed Sentry alert makes), so well-shaped
  // bodies reach handlers that find their row and write to it.
  const secret = "s".repeat(32);
  const created = await t.request("/api/v1/integrations", {
    method: "POST",
    apiKey: owner.apiKey,
    json: { provider: "sentry", name: "Fuzz sentry", secrets: { webhookSecret: secret } },
  });
  const integrationId: string = (await jsonOf(created)).id;
  const alert = readFileSync(
    new URL("../../integrations/sentry/fixtures/event-alert-triggered.json", import.meta.url),
    "utf8",
  );
  const ingested = await t.request(`/webhooks/sentry/${integrationId}`, {
    method: "POST",
    body: alert,
    headers: {
      "content-type": "application/json",
      "sentry-hook-resource": "event_alert",
      "sentry-hook-signature": createHmac("sha256", secret).update(alert).digest("hex"),
      "sentry-hook-timestamp": String(Math.floor(Date.now() / 1000)),
      "request-id": "fuzz-1",
    },
  });
  await t.processDeliveries();
  const firstId = async (list: string) =>
    (await jsonOf(await t.request(`/api/v1/${list}`, { apiKey: owner.apiKey }))).items[0]?.id as string;
  /** By path prefix: the row an `{id}` under it names. */
  const knownIds: Record<string, string> = {
    "/api/v1/integrations/": integrationId,
    "/api/v1/incidents/": await firstId("incidents"),
    "/api/v1/anomalies/": await firstId("anomalies"),
  };

  const operations: Operation[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths)) {
    if (!path.startsWith("/api/v1/")) continue;
    for (const [method, op] of Object.entries<Json>(item)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        params: op.parameters ?? [],
        body: op.requestBody?.content?.["application/json"]?.schema,
        public: Array.isArray(op.security) && op.security.length === 0,
      });
    }
  }

  it("finds the operations in the served document", () => {
    expect(created.status).toBe(201);
    expect(ingested.status).toBe(202);
    expect(Object.values(knownIds).every((id) => /^[0-9a-f-]{36}$/.test(id ?? ""))).toBe(true);
    // The document lists the API surface; a broken document would silently fuzz nothing.
    expect(operations.length).toBeGreaterThan(40);
    expect(operations.map((o) => `${o.method} ${o.path}`)).toEqual(
      expect.arrayContaining([
        "GET /api/v1/incidents",
        "POST /api/v1/integrations",
        "GET /api/v1/audit/proof/inclusion",
        "POST /api/v1/proxy/{provider}/{operation}",
      ]),
    );
  });

  it("refuses U+0000 in a secret (create and rollover) with a 400 naming the field, not a 500", async () => {
    const nul = "\u0000".repeat(20);
    const create = await t.request("/api/v1/integrations", {
      method: "POST",
      apiKey: owner.apiKey,
      json: { provider: "sentry", name: "Nul secret", secrets: { webhookSecret: nul } },
    });
    expect(create.status).toBe(400);
    expect((await jsonOf(create)).errors.map((e: { path: string }) => e.path)).toEqual([
      "secrets.webhookSecret",
    ]);
    const rollover = await t.request(`/api/v1/integrations/${integrationId}`, {
      method: "PATCH",
      apiKey: owner.apiKey,
      json: { addSecret: { kind: "webhookSecret", value: nul } },
    });
    expect(rollover.status).toBe(400);
    expect((await jsonOf(rollover)).errors.map((e: { path: string }) => e.path)).toEqual(["addSecret.value"]);
  });

  it("every operation declares the problem responses its middleware and validators can give", () => {
    const gaps: string[] = [];
    for (const [path, item] of Object.entries<Json>(doc.paths)) {
      if (!path.startsWith("/api/v1/")) continue;
      for (const [method, op] of Object.entries<Json>(item)) {
        const expected = ["429"]; // the limiter runs on every /api route
        if (!(Array.isArray(op.security) && op.security.length === 0)) expected.push("401");
        if (op.parameters?.length || op.requestBody) expected.push("400");
        if (op.parameters?.some((p: Json) => p.in === "path")) expected.push("404");
        for (const status of expected) {
          if (!op.responses[status]) gaps.push(`${method.toUpperCase()} ${path} lacks ${status}`);
        }
        for (const [status, response] of Object.entries<Json>(op.responses)) {
          if (
            Number(status) >= 400 &&
            Object.keys(response.content ?? {}).join() !== "application/problem+json"
          ) {
            gaps.push(`${method.toUpperCase()} ${path} ${status} is not problem+json`);
          }
        }
      }
    }
    expect(gaps).toEqual([]);
  });

  for (const op of operations) {
    it(`${op.method} ${op.path}: never 5xx, every 4xx is problem+json with a known code`, async () => {
      const statuses: number[] = [];
      // fast-check counts examples inside numRuns: every corpus entry runs, then the random ones.
      const realId = Object.entries(knownIds).find(([prefix]) => op.path.startsWith(prefix))?.[1];
      const onePathParam = op.params.filter((p) => p.in === "path").length === 1;
      const examples = corpus(op, doc, onePathParam ? realId : undefined).map((req): [FuzzRequest] => [req]);
      await fc.assert(
        fc.asyncProperty(requestArbitrary(op, doc, Object.values(knownIds)), async (req) => {
          const url = new URL(req.path, "http://causeway.test");
          for (const [k, v] of req.query) url.searchParams.append(k, v);
          const headers: Record<string, string> = { authorization: `Bearer ${owner.apiKey}` };
          if (req.contentType !== undefined) headers["content-type"] = req.contentType;
          const res = await t.app.request(`${url.pathname}${url.search}`, {
            method: op.method,
            headers,
            ...(req.body === undefined ? {} : { body: req.body }),
          });
          statuses.push(res.status);
          const text = await res.text();
          expect(
            res.status,
            `${op.method} ${url.pathname}${url.search} → ${text.slice(0, 300)}`,
          ).toBeLessThan(500);
          if (res.status >= 400) {
            expect(res.headers.get("content-type")).toBe("application/problem+json");
            const problem = JSON.parse(text);
            expect(ERROR_CODES).toContain(problem.code);
            expect(problem.status).toBe(res.status);
          }
          // The limiter ran on this request, with this file's policy.
          expect(res.headers.get("ratelimit-limit")).toBe(String(LIMIT));
        }),
        {
          numRuns: examples.length + RUNS_PER_OPERATION,
          endOnFailure: true,
          examples,
        },
      );
      // The owner's key got past authentication and the limiter: the handlers were exercised.
      expect(statuses).not.toContain(429);
      if (!op.public) expect(statuses.filter((s) => s !== 401 && s !== 403)).not.toHaveLength(0);
    });
  }
});
