import { describe, expect, it } from "vitest";
import { CONFIG_SCHEMAS, PROVIDER_CREDENTIALS, parseProviderConfig } from "./config-schemas.ts";
import { PROVIDER_IDS } from "./types.ts";

function issuesOf(provider: Parameters<typeof parseProviderConfig>[0], input: unknown) {
  const result = parseProviderConfig(provider, input);
  if (result.ok) throw new Error("expected the config to be refused");
  return result.issues.map((i) => ({ path: i.path.join("."), message: i.message }));
}

describe("provider config schemas", () => {
  it("covers every provider, for config and for credentials", () => {
    expect(Object.keys(CONFIG_SCHEMAS).sort()).toEqual([...PROVIDER_IDS].sort());
    expect(Object.keys(PROVIDER_CREDENTIALS).sort()).toEqual([...PROVIDER_IDS].sort());
    for (const id of PROVIDER_IDS) expect(PROVIDER_CREDENTIALS[id].fields).toContain("webhookSecret");
  });

  it("fills safe https defaults for outbound base URLs", () => {
    expect(parseProviderConfig("github", {})).toEqual({
      ok: true,
      config: { apiBaseUrl: "https://api.github.com", webUrl: "https://github.com" },
    });
    expect(parseProviderConfig("datadog", {})).toEqual({
      ok: true,
      config: { site: "datadoghq.com", webhookAuth: "header", authHeader: "X-Causeway-Token" },
    });
    expect(parseProviderConfig("slack", { defaultChannel: "#incidents" })).toEqual({
      ok: true,
      config: {
        apiBaseUrl: "https://slack.com/api",
        defaultChannel: "#incidents",
        escalateAfterMinutes: 30,
        serviceChannels: {},
      },
    });
  });

  it("accepts overridden base URLs and normalizes a trailing slash away", () => {
    const result = parseProviderConfig("github", {
      apiBaseUrl: "https://ghe.example.com/api/v3/",
      webUrl: "https://ghe.example.com",
    });
    expect(result).toMatchObject({ ok: true, config: { apiBaseUrl: "https://ghe.example.com/api/v3" } });
    const slack = parseProviderConfig("slack", {
      apiBaseUrl: "https://slack-gov.com/api",
      defaultChannel: "C0123ABCD",
    });
    expect(slack).toMatchObject({ ok: true, config: { apiBaseUrl: "https://slack-gov.com/api" } });
  });

  it("refuses non-http schemes, credentials in URLs, queries and garbage", () => {
    for (const url of ["file:///etc/passwd", "javascript:alert(1)", "ftp://example.com", "gopher://x"]) {
      expect(issuesOf("grafana", { url })).toEqual([{ path: "url", message: "must use http or https" }]);
    }
    expect(issuesOf("grafana", { url: "https://admin:hunter2@grafana.example.com" })).toEqual([
      { path: "url", message: "must not contain credentials; store them as secrets" },
    ]);
    expect(issuesOf("signoz", { url: "https://signoz.example.com/?token=x" })[0]?.path).toBe("url");
    expect(issuesOf("jira", { baseUrl: "not a url" })[0]?.path).toBe("baseUrl");
  });

  it("never echoes the refused value in an issue", () => {
    const issues = issuesOf("grafana", { url: "https://admin:hunter2@grafana.example.com" });
    expect(JSON.stringify(issues)).not.toContain("hunter2");
  });

  it("refuses unknown keys, so a pasted secret cannot land in config", () => {
    const issues = issuesOf("datadog", { apiKey: "0123456789abcdef" });
    expect(issues[0]?.message).toMatch(/apiKey/);
    expect(JSON.stringify(issues)).not.toContain("0123456789abcdef");
  });

  it("validates the provider-specific fields", () => {
    expect(issuesOf("datadog", { site: "datadoghq.example" })[0]?.path).toBe("site");
    expect(issuesOf("jira", {})[0]?.path).toBe("baseUrl");
    expect(issuesOf("jira", { baseUrl: "https://acme.atlassian.net", projectKeys: ["ops"] })[0]?.path).toBe(
      "projectKeys.0",
    );
    expect(
      issuesOf("jira", { baseUrl: "https://acme.atlassian.net", projectKeys: ["OPS", "OPS"] })[0]?.path,
    ).toBe("projectKeys");
    expect(issuesOf("slack", {})[0]?.path).toBe("defaultChannel");
    expect(issuesOf("grafana", { timestampHeader: "bad header" })[0]?.path).toBe("timestampHeader");
    expect(issuesOf("mezmo", { allowQueryToken: "yes" })[0]?.path).toBe("allowQueryToken");
    expect(
      parseProviderConfig("grafana", { url: "https://grafana.example.com", timestampHeader: "X-Ts" }),
    ).toMatchObject({
      ok: true,
      config: { webhookAuth: "hmac", hmacHeader: "X-Grafana-Alerting-Signature", timestampHeader: "X-Ts" },
    });
  });
});
