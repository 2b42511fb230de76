import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DockerStreamDemuxer, type OutputStream } from "./docker-stream.ts";

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function demux(chunks: Buffer[]) {
  const out: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] };
  const d = new DockerStreamDemuxer((stream, payload) => out[stream].push(Buffer.from(payload)));
  for (const chunk of chunks) d.push(chunk);
  return {
    stdout: Buffer.concat(out.stdout),
    stderr: Buffer.concat(out.stderr),
    complete: d.atFrameBoundary,
  };
}

describe("DockerStreamDemuxer", () => {
  it("splits stdout and stderr frames", () => {
    const wire = Buffer.concat([
      frame(1, Buffer.from("out1 ")),
      frame(2, Buffer.from("err")),
      frame(1, Buffer.alloc(0)),
      frame(1, Buffer.from("out2")),
    ]);
    expect(demux([wire])).toEqual({
      stdout: Buffer.from("out1 out2"),
      stderr: Buffer.from("err"),
      complete: true,
    });
  });

  it("gives the same result however the wire is cut (fuzzed)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ type: fc.constantFrom(1, 2), payload: fc.uint8Array({ maxLength: 300 }) })),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          const wire = Buffer.concat(frames.map((f) => frame(f.type, Buffer.from(f.payload))));
          const points = [...new Set(cuts.map((c) => (wire.length === 0 ? 0 : c % wire.length)))].sort(
            (a, b) => a - b,
          );
          const chunks: Buffer[] = [];
          let last = 0;
          for (const p of points) {
            chunks.push(wire.subarray(last, p));
            last = p;
          }
          chunks.push(wire.subarray(last));
          const expected = (type: number) =>
            Buffer.concat(frames.filter((f) => f.type === type).map((f) => Buffer.from(f.payload)));
          const got = demux(chunks);
          expect(got.stdout).toEqual(expected(1));
          expect(got.stderr).toEqual(expected(2));
          expect(got.complete).toBe(true);
        },
      ),
    );
  });

  it("notices a stream cut inside a frame and refuses unknown stream types", () => {
    const wire = frame(1, Buffer.from("abcdef"));
    expect(demux([wire.subarray(0, 10)]).complete).toBe(false);
    expect(demux([wire.subarray(0, 5)]).complete).toBe(false);
    expect(() => demux([frame(7, Buffer.from("x"))])).toThrow(/unknown stream type 7/);
  });
});
