import { OpenAPIHono } from "@hono/zod-openapi";
import { fieldErrorsFromZod } from "../errors.ts";
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
      return undefined;
    },
  });
}
