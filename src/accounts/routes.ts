import { createRouter } from "../http/router.ts";
import { apiKeyRoutes } from "./api-key-routes.ts";
import { auditRoutes } from "./audit-routes.ts";
import { type AccountsHttpOptions, authRoutes } from "./auth-routes.ts";
import type { AccountsDeps } from "./deps.ts";
import { memberRoutes } from "./member-routes.ts";

/** Every accounts route: sign-in and sessions, API keys, members and invitations, the audit trail. */
export function accountsRoutes(deps: AccountsDeps, options: AccountsHttpOptions) {
  const router = createRouter();
  router.route("/", authRoutes(deps, options));
  router.route("/", apiKeyRoutes(deps));
  router.route("/", memberRoutes(deps, options));
  router.route("/", auditRoutes(deps));
  return router;
}
