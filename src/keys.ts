import { generateKeyPairSync } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { type Config, ConfigError } from "./config.ts";
import { generateFernetKey } from "./credentials/fernet.ts";

/** The key material Causeway needs, in the same string formats as the environment variables. */
export interface ResolvedKeys {
  /** CAUSEWAY_MASTER_KEYS: `id:fernetKey[,id:fernetKey]`. */
  masterKeys: string;
  /** CAUSEWAY_SESSION_KEYS: `kid:base64(pkcs8 DER Ed25519)[,...]`. */
  sessionKeys: string;
  /** CAUSEWAY_CHECKPOINT_KEY: `name:base64(pkcs8 DER Ed25519)`. */
  checkpointKey: string;
}

const VARIABLES: Record<keyof ResolvedKeys, string> = {
  masterKeys: "CAUSEWAY_MASTER_KEYS",
  sessionKeys: "CAUSEWAY_SESSION_KEYS",
  checkpointKey: "CAUSEWAY_CHECKPOINT_KEY",
};

export function generateEd25519Pkcs8(): string {
  const { privateKey } = generateKeyPairSync("ed25519");
  return privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
}

function generate(name: keyof ResolvedKeys, stamp: string): string {
  switch (name) {
    case "masterKeys":
      return `m-${stamp}:${generateFernetKey()}`;
    case "sessionKeys":
      return `s-${stamp}:${generateEd25519Pkcs8()}`;
    case "checkpointKey":
      return `causeway-audit:${generateEd25519Pkcs8()}`;
  }
}

/**
 * Keys from the environment. On the embedded default a missing key is generated once into
 * `<dataDir>/keys.json` (mode 0600) with a warning, so the first run needs no set-up; with DATABASE_URL
 * set, a missing key is a start-up error naming the variable (a production deployment must own its keys).
 */
export async function resolveKeys(config: Config, logger: Logger): Promise<ResolvedKeys> {
  const fromEnv: Partial<ResolvedKeys> = {
    ...(config.keys.masterKeys ? { masterKeys: config.keys.masterKeys } : {}),
    ...(config.keys.sessionKeys ? { sessionKeys: config.keys.sessionKeys } : {}),
    ...(config.keys.checkpointKey ? { checkpointKey: config.keys.checkpointKey } : {}),
  };
  const missing = (Object.keys(VARIABLES) as Array<keyof ResolvedKeys>).filter((k) => !fromEnv[k]);
  if (missing.length === 0) return fromEnv as ResolvedKeys;
  if (config.database.url) {
    throw new ConfigError(
      missing.map(
        (k) => `${VARIABLES[k]}: required when DATABASE_URL is set (see .env.example for the format)`,
      ),
    );
  }
  const file = path.join(path.resolve(config.dataDir), "keys.json");
  await mkdir(path.dirname(file), { recursive: true });
  const stored: Partial<ResolvedKeys> = await readFile(file, "utf8").then(
    (text) => JSON.parse(text) as Partial<ResolvedKeys>,
    () => ({}),
  );
  let changed = false;
  const stamp = new Date().toISOString().slice(0, 10).replaceAll("-", "");
  for (const k of missing) {
    if (!stored[k]) {
      stored[k] = generate(k, stamp);
      changed = true;
      logger.warn(
        { file, variable: VARIABLES[k] },
        "generated a key for the embedded default; set the variable to manage it yourself",
      );
    }
  }
  if (changed) await writeFile(file, `${JSON.stringify(stored, null, 2)}\n`, { mode: 0o600 });
  if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
  return { ...stored, ...fromEnv } as ResolvedKeys;
}

/** Fresh keys in the environment formats, for tests and `causeway keys generate`. */
export function generateKeys(): ResolvedKeys {
  const stamp = "gen";
  return {
    masterKeys: generate("masterKeys", stamp),
    sessionKeys: generate("sessionKeys", stamp),
    checkpointKey: generate("checkpointKey", stamp),
  };
}
