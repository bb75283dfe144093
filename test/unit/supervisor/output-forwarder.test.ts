/**
 * `--prefix-output` forwarding: the bytes pass unchanged with a prefix at each line start, lines
 * stay whole, and a sink that does not take its chunk stops the reading of the source — which is
 * what makes a slow reader of the launcher's stdout slow the server instead of growing the launcher.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable, Writable } from "node:stream";
import { LinePrefixer, fileSink, forwardOutput, streamSink, type OutputSink } from "../../../src/supervisor/output-forwarder.ts";
import { sleep, waitFor } from "../../support/wait.ts";

const encode = (text: string) => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function prefixAll(prefixer: LinePrefixer, chunks: string[]): string {
  return chunks.map((chunk) => decode(prefixer.push(encode(chunk)))).join("") + decode(prefixer.end());
}

test("LinePrefixer: a prefix at every line start, lines passed on whole once their newline arrives", () => {
  const prefixer = new LinePrefixer("[gen 2] ");
  assert.equal(decode(prefixer.push(encode("one\ntw"))), "[gen 2] one\n", "the partial line waits");
  assert.equal(decode(prefixer.push(encode("o\n\nthree"))), "[gen 2] two\n[gen 2] \n", "an empty line is a line");
  assert.equal(decode(prefixer.push(new Uint8Array(0))), "");
  assert.equal(decode(prefixer.end()), "[gen 2] three\n", "the last line gets its newline at the end");
  assert.equal(decode(prefixer.end()), "", "nothing twice");
});

test("LinePrefixer: the bytes are unchanged, a UTF-8 character split between chunks included", () => {
  const text = "ünïcödé ✓ line\nsecond ✓\n";
  const bytes = encode(text);
  const prefixer = new LinePrefixer("> ");
  const out: number[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(...prefixer.push(bytes.subarray(i, i + 1)));
  out.push(...prefixer.end());
  assert.equal(decode(Uint8Array.from(out)), "> ünïcödé ✓ line\n> second ✓\n");
});

test("LinePrefixer: a line longer than the limit goes on unfinished; its rest has no prefix", () => {
  const prefixer = new LinePrefixer("[g] ", 10);
  const first = decode(prefixer.push(encode("a".repeat(25))));
  assert.equal(first, "[g] " + "a".repeat(25), "held no longer than the limit");
  assert.equal(decode(prefixer.push(encode("bb\nc"))), "bb\n", "the rest of that line: no prefix");
  assert.equal(decode(prefixer.end()), "[g] c\n");
  const unfinished = new LinePrefixer("[g] ", 4);
  assert.equal(prefixAll(unfinished, ["xxxxxx"]), "[g] xxxxxx\n", "an overlong last line is still ended with a newline");
});

/** A source that makes data only when read, like a pipe: `produced` counts what was read from it. */
function lazySource(total: number, chunk: number): { source: Readable; produced: () => number } {
  let produced = 0;
  const line = encode("x".repeat(99) + "\n");
  const source = new Readable({
    read() {
      if (produced >= total) { this.push(null); return; }
      const size = Math.min(chunk, total - produced);
      const bytes = new Uint8Array(size);
      for (let i = 0; i < size; i += line.length) bytes.set(line.subarray(0, Math.min(line.length, size - i)), i);
      produced += size;
      this.push(bytes);
    },
  });
  return { source, produced: () => produced };
}

test("forwardOutput: while the sink holds a chunk, the source is not read on; once it takes them, every byte arrives", async () => {
  const total = 10_000_000, chunk = 10_000; // 100-byte lines, chunks of whole lines
  const { source, produced } = lazySource(total, chunk);
  let received = 0, writes = 0, open = false;
  let release: (() => void) | undefined;
  const sink: OutputSink = {
    write(bytes) {
      received += bytes.length;
      writes++;
      if (open) return Promise.resolve();
      return new Promise((resolve) => (release = resolve));
    },
  };
  const done = forwardOutput(source, sink, "[gen 1] ");
  await waitFor(() => writes === 1, { what: "the first write to the sink" });
  // A window in which the source must NOT be drained: without backpressure all 10 MB are read here.
  await sleep(200);
  assert.equal(writes, 1, "no second write before the first was taken");
  assert.ok(produced() < 1_000_000, `read ${produced()} bytes of the source while the sink was full; expected at most its buffer and a chunk`);
  open = true;
  release!();
  await done;
  assert.equal(produced(), total);
  assert.equal(received, total + (total / 100) * "[gen 1] ".length, "every line arrived, each with its prefix");
});

test("forwardOutput: a source that fails ends the forwarding with what it had", async () => {
  const source = new Readable({ read() {} });
  const out: string[] = [];
  const done = forwardOutput(source, { write: async (bytes) => { out.push(decode(bytes)); } }, "[g] ");
  source.push(encode("whole\npart"));
  await waitFor(() => out.length === 1, { what: "the first line" });
  source.destroy(new Error("EIO"));
  await done;
  assert.deepEqual(out, ["[g] whole\n", "[g] part\n"]);
});

test("fileSink: partial writes are completed, and chunks go out one after the other, never interleaved", async () => {
  const written: string[] = [];
  const file = {
    async write(bytes: Uint8Array) {
      await sleep(1);
      const n = Math.min(3, bytes.length); // a pipe with room for 3 bytes at a time
      written.push(decode(bytes.subarray(0, n)));
      return n;
    },
  };
  const sink = fileSink(file);
  await Promise.all([sink.write(encode("aaaaaaa\n")), sink.write(encode("bbbbbbb\n"))]);
  assert.equal(written.join(""), "aaaaaaa\nbbbbbbb\n");
});

test("fileSink: once the file is gone (EPIPE), output is discarded instead of waited for", async () => {
  let calls = 0;
  const sink = fileSink({ write: async () => { calls++; throw new Error("Broken pipe (os error 32)"); } });
  await sink.write(encode("lost\n"));
  await sink.write(encode("also lost\n"));
  assert.equal(calls, 1, "no retry on a broken file");
});

test("streamSink: a full stream's write resolves only after 'drain', one 'drain' for every waiting writer", async () => {
  let finishWrite: (() => void) | undefined;
  const chunks: string[] = [];
  const stream = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      finishWrite = callback;
    },
  });
  const sink = streamSink(stream);
  let first = false, second = false;
  void sink.write(encode("0123456789")).then(() => (first = true));
  void sink.write(encode("abc")).then(() => (second = true));
  await sleep(20);
  assert.equal(first, false, "the stream is above its high-water mark: not taken yet");
  assert.equal(second, false);
  assert.ok(stream.listenerCount("drain") <= 1, `writers share one drain listener, got ${stream.listenerCount("drain")}`);
  // Let the stream finish its writes one by one until both writers were told it drained.
  await waitFor(() => {
    const finish = finishWrite;
    finishWrite = undefined; // before the call: it may start the next write at once
    finish?.();
    return first && second;
  }, { what: "both writes to be taken after the drain" });
  assert.deepEqual(chunks.join(""), "0123456789abc");
});

test("output: every complete line reaches onLine once, without its newline, whatever the chunking (--error-pattern counts them)", () => {
  const lines: string[] = [];
  const decoder = new TextDecoder();
  const prefixer = new LinePrefixer("", 64 * 1024, (line) => lines.push(decoder.decode(line)));
  const encoder = new TextEncoder();
  for (const chunk of ["ERROR a\nok", " b\nERR", "OR c\n", "tail without newline"]) prefixer.push(encoder.encode(chunk));
  prefixer.end();
  assert.deepEqual(lines, ["ERROR a", "ok b", "ERROR c"]);
});
