import type { Provider } from "../core/types.ts";
import { normalizeMezmo } from "./normalize.ts";
import { verifyMezmo } from "./verify.ts";

export const mezmoProvider: Provider = {
  id: "mezmo",
  displayName: "Mezmo (LogDNA)",
  // Mezmo signs nothing; the generated secret is the token its webhook channel sends in a header.
  signsWebhooks: true,
  verify: verifyMezmo,
  normalize: normalizeMezmo,
};
