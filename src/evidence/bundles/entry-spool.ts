import { randomUUID } from "node:crypto";
import { type FileHandle, open, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

/**
 * The export's rows' entries as JSON text, one line per row in bundle order, kept on disk between
 * recording and streaming. Recording already holds every new entry's fields, so streaming reads them
 * back from here instead of re-reading (and re-sending) a year of audit rows from the database; memory
 * stays flat because the text is on disk. An empty line means "read this entry from the log".
 *
 * The file is unlinked as soon as it is opened: only this handle reaches it, and a crash leaves nothing
 * behind.
 */
export class EntrySpool {
  #written = 0;
  #closed = false;

  private constructor(private readonly handle: FileHandle) {}

  static async create(): Promise<EntrySpool> {
    const file = path.join(tmpdir(), `causeway-export-${randomUUID()}.jsonl`);
    const handle = await open(file, "wx+", 0o600);
    await unlink(file);
    return new EntrySpool(handle);
  }

  /** Appends lines (entry JSON, or "" for an entry to read from the log). Callers serialize writes. */
  async write(lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    const text = `${lines.join("\n")}\n`;
    await this.handle.write(text, this.#written, "utf8");
    this.#written += Buffer.byteLength(text, "utf8");
  }

  /** The lines in order, `size` at a time. Read once. */
  async *chunks(size: number): AsyncGenerator<string[]> {
    let chunk: string[] = [];
    const lines = this.handle.readLines({ start: 0, autoClose: false, encoding: "utf8" });
    for await (const line of lines) {
      chunk.push(line);
      if (chunk.length === size) {
        yield chunk;
        chunk = [];
      }
    }
    if (chunk.length > 0) yield chunk;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.handle.close();
  }
}
