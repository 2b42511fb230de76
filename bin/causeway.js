#!/usr/bin/env node
// The `causeway` command: runs the TypeScript entry through tsx's loader (a runtime dependency), so the
// installed package needs no build step.
import { register } from "tsx/esm/api";

register();
await import("../src/main.ts");
