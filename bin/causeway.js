#!/usr/bin/env -S node --max-semi-space-size=64
// The `causeway` command: runs the TypeScript entry through tsx's loader (a runtime dependency), so the
// installed package needs no build step. The young generation may grow to 64 MB semi-spaces: under a
// webhook flood the front door allocates fast, and with V8's default 16 MB it was collected 9–10 times a
// second, about three times the total pause (bench/RESULTS.md, "A fresh machine, long rows").
// `npm start` and the Dockerfile pass the same flag.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
