import { asText } from "../core/json.ts";

/**
 * Datadog renders its webhook payload from a text template, so every value arrives as a string, and a
 * variable Datadog could not fill may arrive empty or as its own literal name (`"$TAGS[service]"`). Both
 * mean "not set".
 */
export function templateValue(value: unknown): string | undefined {
  const text = asText(value);
  if (text === undefined || /^\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?$/.test(text)) return undefined;
  return text;
}
