import { OpenAPIHono } from "@hono/zod-openapi";
import { fieldErrorsFromZod } from "../errors.ts";
import { nulCharacterPaths } from "./nul-characters.ts";
import { problemFor, problemResponse } from "./problem.ts";
import type { AppEnv } from "./types.ts";

/** A router whose request validation failures render as our problem+json, never Hono's default body. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const issues = result.error.issues;
        const isJsonTarget = result.target === "json";
        return problemResponse(
          c,
          problemFor("validation_failed", {
            detail: isJsonTarget ? "the request body did not pass validation" : `invalid ${result.target}`,
            requestId: c.get("requestId"),
            errors: fieldErrorsFromZod(issues),
          }),
        );
      }
      // A query or path value valid by its schema, but holding U+0000 (src/http/nul-characters.ts).
      const nul =
        c.req.path.startsWith("/api/") && (result.target === "query" || result.target === "param")
          ? nulCharacterPaths(result.data)
          : [];
      if (nul.length > 0) {
        return problemResponse(
          c,
          problemFor("validation_failed", {
            detail: "text cannot contain the NUL character (U+0000)",
            requestId: c.get("requestId"),
            errors: nul.map((path) => ({ path, message: "contains U+0000" })),
          }),
        );
      }
      return undefined;
    },
  });
}
