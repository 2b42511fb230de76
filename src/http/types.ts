import type { Logger } from "pino";
import type { OrgContext } from "../context.ts";

export interface AppEnv {
  Variables: {
    requestId: string;
    logger: Logger;
    /** Set by the auth middleware on /api routes. */
    auth: OrgContext;
  };
}
