/**
 * Splits Docker's multiplexed attach stream (no TTY) into stdout and stderr. Each frame is an 8-byte
 * header — stream type (0 stdin, 1 stdout, 2 stderr), three zero bytes, payload size as uint32
 * big-endian — then the payload. Frames arrive cut anywhere, so this is a small state machine that
 * forwards payload bytes as they come instead of buffering whole frames.
 */
export type OutputStream = "stdout" | "stderr";

export class DockerStreamDemuxer {
  private readonly header = Buffer.alloc(8);
  private headerFill = 0;
  private remaining = 0;
  private current: OutputStream = "stdout";

  constructor(private readonly onData: (stream: OutputStream, payload: Buffer) => void) {}

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.remaining === 0) {
        const take = Math.min(8 - this.headerFill, chunk.length - i);
        chunk.copy(this.header, this.headerFill, i, i + take);
        this.headerFill += take;
        i += take;
        if (this.headerFill === 8) {
          const type = this.header[0];
          if (type !== 0 && type !== 1 && type !== 2) {
            throw new Error(`docker attach stream: unknown stream type ${String(type)}`);
          }
          this.current = type === 2 ? "stderr" : "stdout";
          this.remaining = this.header.readUInt32BE(4);
          this.headerFill = 0;
        }
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        this.onData(this.current, chunk.subarray(i, i + take));
        this.remaining -= take;
        i += take;
      }
    }
  }

  /** False when the stream stopped inside a frame (the connection was cut). */
  get atFrameBoundary(): boolean {
    return this.headerFill === 0 && this.remaining === 0;
  }
}
