import { describe, expect, it } from "vitest";
import type { StackFrame } from "../../integrations/core/types.ts";
import {
  buildRepoPathIndex,
  isInAppFrame,
  MAX_IN_APP_FRAMES,
  mapFrame,
  mapStackFrames,
  normalizeFramePath,
} from "./path-mapping.ts";

const FILES = [
  "src/checkout/cart.ts",
  "src/checkout/index.ts",
  "src/payments/index.ts",
  "src/x.ts",
  "services/api/src/orders/handler.ts",
  "services/worker/src/orders/handler.ts",
  "myapp/views.py",
  "myapp/models.py",
  "backend/src/main/java/com/acme/cart/CartService.java",
  "backend/src/main/kotlin/com/acme/cart/PriceRules.kt",
  "README.md",
  "Setup.ts",
];
const index = buildRepoPathIndex(FILES);

function frame(file: string, extra: Partial<StackFrame> = {}): StackFrame {
  return { file, line: 10, inApp: true, ...extra };
}

describe("normalizeFramePath", () => {
  it.each([
    ["/app/src/checkout/cart.ts", ["app", "src", "checkout", "cart.ts"]],
    ["webpack:///./src/x.ts", ["src", "x.ts"]],
    ["webpack://my-app/./src/x.ts?abc", ["src", "x.ts"]],
    ["app:///src/x.js", ["src", "x.js"]],
    ["https://cdn.example.com/static/js/main.js#L1", ["static", "js", "main.js"]],
    ["C:\\build\\src\\x.ts", ["build", "src", "x.ts"]],
    ["/app/src/../src/./x.ts", ["app", "src", "x.ts"]],
  ])("%s", (raw, segments) => {
    expect(normalizeFramePath(raw)).toEqual(segments);
  });
});

describe("mapFrame: longest suffix over path segments", () => {
  it("maps container, bundler and URL paths to the repository file", () => {
    expect(mapFrame(frame("/app/src/checkout/cart.ts"), index)).toEqual({
      repoPath: "src/checkout/cart.ts",
      matchedSegments: 3,
    });
    expect(mapFrame(frame("webpack:///./src/x.ts"), index).repoPath).toBe("src/x.ts");
    expect(mapFrame(frame("/srv/app/myapp/views.py"), index).repoPath).toBe("myapp/views.py");
  });

  it("uses the longest suffix to pick between same-named files in a monorepo", () => {
    expect(mapFrame(frame("/workspace/api/src/orders/handler.ts"), index)).toEqual({
      repoPath: "services/api/src/orders/handler.ts",
      matchedSegments: 4,
    });
    expect(mapFrame(frame("/app/src/payments/index.ts"), index).repoPath).toBe("src/payments/index.ts");
  });

  it("refuses ambiguous ties instead of guessing", () => {
    // Both handler.ts files share the suffix src/orders/handler.ts.
    expect(mapFrame(frame("/app/src/orders/handler.ts"), index)).toEqual({
      matchedSegments: 3,
      reason: "ambiguous",
    });
    // Basename only, two candidates.
    expect(mapFrame(frame("/dist/index.ts"), index)).toEqual({ matchedSegments: 1, reason: "ambiguous" });
  });

  it("accepts a basename-only match when the basename is unique", () => {
    expect(mapFrame(frame("/opt/build/Setup.ts"), index)).toEqual({
      repoPath: "Setup.ts",
      matchedSegments: 1,
    });
    expect(mapFrame(frame("/opt/build/nothing.ts"), index)).toEqual({
      matchedSegments: 0,
      reason: "no_match",
    });
  });

  it("falls back to case-insensitive segments only when nothing matches exactly", () => {
    expect(mapFrame(frame("C:\\Users\\dev\\SRC\\Checkout\\Cart.ts"), index).repoPath).toBe(
      "src/checkout/cart.ts",
    );
  });

  it("munges JVM and Python modules into paths", () => {
    expect(
      mapFrame(frame("CartService.java", { module: "com.acme.cart.CartService$Inner" }), index).repoPath,
    ).toBe("backend/src/main/java/com/acme/cart/CartService.java");
    expect(mapFrame(frame("PriceRules.kt", { module: "com.acme.cart.PriceRulesKt" }), index)).toEqual({
      repoPath: "backend/src/main/kotlin/com/acme/cart/PriceRules.kt",
      matchedSegments: 4,
    });
    expect(mapFrame(frame("Unknown Source", { module: "com.acme.cart.CartService" }), index).repoPath).toBe(
      "backend/src/main/java/com/acme/cart/CartService.java",
    );
    expect(mapFrame(frame("views.py", { module: "myapp.views" }), index)).toEqual({
      repoPath: "myapp/views.py",
      matchedSegments: 2,
    });
  });
});

describe("mapStackFrames", () => {
  it("drops non-in-app and dependency frames and numbers in-app frames from the crash site", () => {
    const frames: StackFrame[] = [
      frame("/app/node_modules/express/lib/router.js"),
      frame("/app/src/checkout/cart.ts", { line: 42 }),
      frame("node:internal/process/task_queues", { inApp: true }),
      frame("/usr/lib/python3.11/site-packages/requests/api.py"),
      frame("/app/vendor/lib/x.ts"),
      frame("/app/src/x.ts", { inApp: false }),
      frame("/app/src/orders/handler.ts", { line: 7 }),
      frame("webpack:///./src/x.ts", { line: 3 }),
    ];
    const mapped = mapStackFrames(frames, index);
    expect(mapped.map((m) => [m.inAppIndex, m.repoPath ?? m.unmappedReason, m.frame.line])).toEqual([
      [0, "src/checkout/cart.ts", 42],
      [1, "ambiguous", 7],
      [2, "src/x.ts", 3],
    ]);
  });

  it("keeps at most 25 in-app frames", () => {
    const frames = Array.from({ length: 40 }, (_, i) => frame("/app/src/x.ts", { line: i + 1 }));
    const mapped = mapStackFrames(frames, index);
    expect(mapped).toHaveLength(MAX_IN_APP_FRAMES);
    expect(mapped.at(-1)!.frame.line).toBe(25);
  });

  it("isInAppFrame keeps module-only frames and rejects runtime paths", () => {
    expect(isInAppFrame({ file: "", module: "com.acme.X", inApp: true })).toBe(true);
    expect(isInAppFrame(frame("<anonymous>"))).toBe(false);
    expect(isInAppFrame(frame("internal/modules/cjs/loader.js"))).toBe(false);
    expect(isInAppFrame(frame("/app/internal/billing/charge.go"))).toBe(true);
  });
});
