// The lowbit ONNX file's validator and checksum (src/format/lowbit_onnx.ts): hostile metadata and
// initializers are refused with one line naming the key or tensor, before anything runs; the checksum the
// exporter writes (Node's crypto) is the one the runtime verifies (Web Crypto); version 1 files still load.

import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { fieldChecker, META, parseModelFile, verifyChecksum } from "../../src/format/lowbit_onnx.js";
import { QUANT_FORMATS, type WeightBits } from "../../src/format/quant_formats.js";
import { seededRandom } from "../../src/runtime/sampling.js";
import { decodeModel, encodeModel, toNumber, type ModelProto } from "../../src/format/onnx_proto.js";
import { LowbitError, loadGpt2Model } from "../../src/runtime/index.js";
import { runCli } from "../helpers/cli.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

const exported = exportGpt2(
  quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-f32")), { weightBits: 2, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "maxabs" }),
  { format: "dq", activationBits: 8, source: "tiny" },
).bytes;

/** A copy of the exported model with `edit` applied to its decoded protobuf. */
function edited(edit: (m: ModelProto, meta: Map<string, string>) => void): Uint8Array {
  const m = decodeModel(new Uint8Array(exported), "x") /* a copy: initializer data are views into the bytes */;
  const meta = new Map((m.metadataProps ?? []).map((p) => [p.key!, p.value!]));
  edit(m, meta);
  m.metadataProps = [...meta].map(([key, value]) => ({ key, value }));
  return encodeModel(m);
}

function editJson(key: string, edit: (value: any) => void): Uint8Array {
  return edited((_, meta) => {
    const value = JSON.parse(meta.get(key)!);
    edit(value);
    meta.set(key, JSON.stringify(value));
  });
}

function refused(bytes: Uint8Array, pattern: RegExp): void {
  assert.throws(() => parseModelFile(bytes, "m.onnx"), (e: Error) => {
    assert.ok(e instanceof LowbitError, `expected a LowbitError, got ${e.name}: ${e.message}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes("\n"), "one line");
    return true;
  });
}

describe("lowbit ONNX validator", () => {
  it("accepts what the exporter writes", () => {
    const f = parseModelFile(exported, "m.onnx");
    assert.equal(f.formatVersion, 2);
    assert.match(f.metadata.get(META.checksum)!, /^sha256:[0-9a-f]{64}$/);
  });

  it("refuses config values out of range or contradicting the tensors", () => {
    refused(editJson(META.config, (c) => (c.n_head = 0)), /m\.onnx: bad value for lowbit\.config\.n_head; expected an integer in 1\.\.256, found 0/);
    refused(editJson(META.config, (c) => (c.n_head = 1e9)), /bad value for lowbit\.config\.n_head; expected an integer in 1\.\.256, found 1000000000/);
    refused(editJson(META.config, (c) => (c.vocab_size = 2 ** 31)), /bad value for lowbit\.config\.vocab_size/);
    refused(editJson(META.config, (c) => (c.vocab_size = 1.5)), /bad value for lowbit\.config\.vocab_size; expected an integer in 1\.\.1048576, found 1\.5/);
    refused(editJson(META.config, (c) => (c.tie_word_embeddings = "true")), /bad value for lowbit\.config\.tie_word_embeddings; expected true or false, found "true"/);
    refused(editJson(META.config, (c) => delete c.n_embd), /missing key lowbit\.config\.n_embd; expected an integer in 1\.\.16384, found nothing/);
    refused(editJson(META.config, (c) => (c.n_embd = 65)), /n_embd is not a multiple of n_head/);
    refused(editJson(META.config, (c) => (c.n_embd = 68)), /tensor wte\.weight: weight shape does not match the config; expected \[277, 68\], found \[277, 64\]/);
    refused(editJson(META.config, (c) => (c.n_layer = 1)), /tensor h\.1\.ln_1\.weight: weight manifest names a tensor the config does not have/);
    refused(editJson(META.config, (c) => (c.n_layer = 3)), /tensor h\.2\.ln_1\.weight: weight manifest lacks a tensor the config implies/);
    refused(editJson(META.config, (c) => (c.vocab_size = 300)), /tensor wte\.weight: weight shape does not match the config; expected \[300, 64\], found \[277, 64\]/);
    refused(editJson(META.config, (c) => (c.eos_token_id = 277)), /eos_token_id is outside the vocabulary/);
    refused(editJson(META.config, (c) => (c.extra = 1)), /bad value for lowbit\.config\.extra; expected an object with only the keys lowbit writes/);
  });

  it("refuses manifest entries that do not match the initializers or the quantization", () => {
    refused(editJson(META.weights, (w) => w.pop()), /weight manifest lacks a tensor the config implies/);
    refused(editJson(META.weights, (w) => (w[0].bits = 8)), /weight's bit width does not match the file's quantization; expected \d, found 8/);
    refused(editJson(META.weights, (w) => (w.find((e: any) => e.layout === "dq").group_size = 64)), /group size does not match/);
    refused(editJson(META.weights, (w) => (w.find((e: any) => e.layout === "dq").input_axis = 1 - w.find((e: any) => e.layout === "dq").input_axis)), /input axis is wrong/);
    refused(editJson(META.weights, (w) => (w.find((e: any) => e.name === "h.0.ln_1.bias").layout = "dq")), /bit width does not match/);
    refused(editJson(META.weights, (w) => (w[0] = null)), /bad value for lowbit\.weights\.0; expected a weight entry/);
    refused(editJson(META.quantization, (q) => (q.group_size = 0)), /group_size does not fit granularity "group"/);
  });

  it("refuses initializers whose type, dims or size differ from their entry", () => {
    const init = (m: ModelProto, name: string) => m.graph!.initializer!.find((t) => t.name === name)!;
    refused(edited((m) => (init(m, "h.0.mlp.c_fc.weight.qweight").dataType = 22)), /tensor h\.0\.mlp\.c_fc\.weight\.qweight: initializer has the wrong data type; expected ONNX type 26, found 22/);
    refused(edited((m) => (init(m, "h.0.mlp.c_fc.weight.qweight").dims = [256, 64])), /initializer has the wrong dims; expected \[64, 256\], found \[256, 64\]/);
    refused(edited((m) => (init(m, "wpe.weight").rawData = init(m, "wpe.weight").rawData!.subarray(0, 100))), /tensor wpe\.weight: stored tensor has the wrong size .* expected 16384 bytes, found 100 bytes/);
    refused(edited((m) => m.graph!.initializer!.splice(m.graph!.initializer!.findIndex((t) => t.name === "ln_f.bias"), 1)), /tensor ln_f\.bias: weight manifest names a missing weight initializer/);
    refused(edited((m) => (init(m, "ln_f.bias").dataLocation = 1)), /initializer stored outside the file/);
  });

  it("refuses missing or broken metadata and tokenizer files", () => {
    refused(edited((_, meta) => meta.delete(META.merges)), /missing metadata lowbit\.tokenizer\.merges/);
    refused(edited((_, meta) => meta.set(META.config, "{\"n_embd\": 6")), /metadata lowbit\.config is not valid JSON/);
    refused(edited((_, meta) => meta.set(META.config, "null")), /bad value for lowbit\.config; expected an object with only the keys lowbit writes, found null/);
    refused(edited((_, meta) => meta.set(META.formatVersion, "3")), /unsupported lowbit file version; expected 1 or 2, found 3/);
    refused(edited((_, meta) => meta.set(META.checksum, "md5:1")), /malformed lowbit\.checksum/);
    // merges.txt cut at a line boundary: still well-formed lines, but tokens no merge makes.
    refused(edited((_, meta) => meta.set(META.merges, meta.get(META.merges)!.split("\n").slice(0, 10).join("\n"))), /vocabulary entry that no merge produces \(merges\.txt cut short\?\)/);
    refused(edited((_, meta) => meta.set(META.vocab, meta.get(META.vocab)!.slice(0, 500))), /lowbit\.tokenizer\.vocab: not valid JSON/);
  });
});

describe("code range check", () => {
  // The plain definition: unpack each field and compare with [−k, k].
  const fieldsInRange = (word: number, bits: WeightBits, layout: "dq" | "nbits") => {
    const k = QUANT_FORMATS[bits].maxCode;
    for (let shift = 0; shift < 32; shift += bits) {
      const field = (word >>> shift) & ((1 << bits) - 1);
      const code = layout === "dq" ? (field << (32 - bits)) >> (32 - bits) : field - (1 << (bits - 1));
      if (code < -k || code > k) return false;
    }
    return true;
  };

  it("the word-at-a-time check equals the plain definition on every byte and on random words", () => {
    const rand = seededRandom(11);
    for (const bits of [2, 4, 8] as const) {
      for (const layout of ["dq", "nbits"] as const) {
        const bad = fieldChecker(bits, layout);
        const words = [0, 0xffffffff, 0x80000000, ...Array.from({ length: 256 }, (_, b) => (b * 0x01010101) >>> 0), ...Array.from({ length: 20000 }, () => Math.floor(rand() * 2 ** 32))];
        for (const w of words) assert.equal(bad(w) === 0, fieldsInRange(w, bits, layout), `${layout} ${bits}-bit word 0x${w.toString(16)}`);
      }
    }
  });

  it("refuses a stored code outside [−k, k] wherever it lies in the tensor", () => {
    for (const offset of [0, 1, 2, 3, 5, 1023]) {
      refused(edited((m) => (m.graph!.initializer!.find((t) => t.name === "h.0.mlp.c_fc.weight.qweight")!.rawData![offset] = 0b10)), new RegExp(`tensor h\\.0\\.mlp\\.c_fc\\.weight\\.qweight: code out of range for 2-bit weights; expected codes in \\[-1, 1\\], found byte 2 at offset ${offset}`));
    }
  });
});

describe("checksum", () => {
  it("the runtime verifies what the exporter wrote, and refuses a flipped bit in a weight or the metadata", async () => {
    await verifyChecksum(parseModelFile(exported, "m.onnx"));
    const m = decodeModel(new Uint8Array(exported), "x") /* a copy: initializer data are views into the bytes */;
    const codes = m.graph!.initializer!.find((t) => t.name === "h.1.attn.c_proj.weight.qweight")!;
    codes.rawData![7] ^= 0x10;
    const flipped = encodeModel(m);
    await assert.rejects(loadGpt2Model(flipped), /content does not match the file's checksum \(corrupted or altered file\?\); expected sha256:[0-9a-f]{16}, found sha256:[0-9a-f]{16}/);
    // The documented way around it loads the file anyway.
    const unchecked = await loadGpt2Model(flipped, { verifyChecksum: false });
    assert.equal(unchecked.config.n_layer, 2);
    const eps = editJson(META.config, (c) => (c.layer_norm_epsilon = 2e-5)); // valid on its own: only the checksum can tell
    await assert.rejects(loadGpt2Model(eps), /content does not match the file's checksum/);
    // The graph is covered too: other runtimes run it even though ours does not read it.
    const graph = edited((m) => (m.graph!.node![0].name = "renamed"));
    await assert.rejects(loadGpt2Model(graph), /content does not match the file's checksum/);
    // A cut file whose protobuf still decodes (cut at the end of the last metadata entry's key) is refused.
    const cut = exported.subarray(0, exported.byteLength - 71 - 2);
    await assert.rejects(loadGpt2Model(cut), LowbitError);
  });

  it("the CLI refuses a flipped bit in one line, and --no-verify-checksum runs the file anyway", () => {
    const m = decodeModel(new Uint8Array(exported), "x") /* a copy: initializer data are views into the bytes */;
    m.graph!.initializer!.find((t) => t.name === "wpe.weight")!.rawData![40] ^= 0x01;
    const path = join(tempDir(), "flipped.onnx");
    writeFileSync(path, encodeModel(m));
    const args = ["generate", "--model", path, "--prompt-ids", "1,2,3", "--max-new-tokens", "2", "--json"];
    const refusedRun = runCli(args);
    assert.equal(refusedRun.status, 1);
    assert.match(refusedRun.stderr, /^lowbit: error: .*flipped\.onnx: content does not match the file's checksum \(corrupted or altered file\?\); expected sha256:\w+, found sha256:\w+ \(download or export it again\)\n$/);
    const unchecked = runCli([...args, "--no-verify-checksum"]);
    assert.equal(unchecked.status, 0, unchecked.stderr);
    assert.equal(JSON.parse(unchecked.stdout).ids.length, 2);
    const inspected = runCli(["inspect", path]);
    assert.equal(inspected.status, 1);
    assert.match(inspected.stderr, /content does not match the file's checksum/);
  });

  it("a version 1 file (no checksum) is refused with the way to upgrade it, and loads when the check is skipped", async () => {
    const v1 = edited((_, meta) => {
      meta.delete(META.checksum);
      meta.set(META.formatVersion, "1");
    });
    const f = parseModelFile(v1, "v1.onnx");
    assert.equal(f.formatVersion, 1);
    await assert.rejects(verifyChecksum(f), /v1\.onnx: format version 1 has no checksum, so the file cannot be verified \(re-export it, or add one with `npx tsx scripts\/upgrade_model\.ts FILE`; or load it unverified with --no-verify-checksum\)/);
    await assert.rejects(loadGpt2Model(v1), /format version 1 has no checksum/);
    const m = await loadGpt2Model(v1, { verifyChecksum: false });
    assert.equal(toNumber(f.model.irVersion), 12);
    assert.equal(m.config.vocab_size, 277);
  });
});
