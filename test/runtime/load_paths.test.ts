// The load path's shortcuts keep what they replace: the zero-copy protobuf read gives what protobufjs decodes
// and refuses broken framing; the checksum made with Node's hash, and with the running hash made while a
// file is read, still refuses a flipped bit anywhere; the tokenizer built lazily gives the ids the eager
// one gave; the compiled kernels are reused within a process, per content.

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { readGpt2Checkpoint } from "../../src/export/checkpoint.js";
import { exportGpt2, quantizeCheckpoint } from "../../src/export/export.js";
import { parseBpeFilesReference } from "../../src/format/bpe_files.js";
import { META, parseModelFile, verifyChecksum } from "../../src/format/lowbit_onnx.js";
import { decodeModel, encodeModel, readModelParts, toNumber } from "../../src/format/onnx_proto.js";
import { compileKernels } from "../../src/runtime/kernels.js";
import { BpeTokenizer, loadGpt2Model, loadModel, LowbitError } from "../../src/runtime/index.js";
import { fixtureDir, removeTempDir, tempDir } from "../helpers/fixtures.js";

const ROOT = join(import.meta.dirname, "..", "..");
const SHIPPED = join(ROOT, "models", "quantgpt-228.onnx"); // 6 MB: the running hash covers all but its last 64 KiB
const sha256 = () => createHash("sha256");

const tiny = exportGpt2(
  quantizeCheckpoint(readGpt2Checkpoint(fixtureDir("tiny-f32")), { weightBits: 2, embeddingBits: 4, activationBits: 8, granularity: "group", groupSize: 32, clip: "maxabs" }),
  { format: "dq", activationBits: 8, source: "tiny" },
).bytes;

function refusedAsUnreadable(bytes: Uint8Array, found: RegExp): void {
  assert.throws(() => readModelParts(bytes, "m.onnx"), (e: Error) => e instanceof LowbitError && /^m\.onnx: not a readable ONNX file/.test(e.message) && found.test(e.message));
}

describe("readModelParts", () => {
  it("reads the metadata and initializers protobufjs decodes, with tensor data as views into the file", () => {
    for (const bytes of [tiny, new Uint8Array(readFileSync(SHIPPED))]) {
      const parts = readModelParts(bytes, "m.onnx");
      const model = decodeModel(bytes, "m.onnx");
      assert.deepEqual(parts.metadata.map((m) => [m.key, m.value]), model.metadataProps!.map((p) => [p.key, p.value]));
      assert.ok(parts.metadata.every((m) => m.valueUtf8 && new TextDecoder().decode(m.valueBytes) === m.value));
      const inits = model.graph!.initializer!;
      assert.equal(parts.initializers.length, inits.length);
      parts.initializers.forEach((t, i) => {
        assert.deepEqual([t.name, t.dataType, t.dims, t.dataLocation], [inits[i].name, inits[i].dataType, (inits[i].dims ?? []).map(toNumber), inits[i].dataLocation ?? 0]);
        assert.equal(t.rawData.buffer, bytes.buffer, "a view, not a copy");
        assert.deepEqual(t.rawData, inits[i].rawData);
      });
    }
  });

  it("takes dims packed or not, skips unknown fields, and keeps the last graph as protobufjs does", () => {
    const m = decodeModel(new Uint8Array(tiny), "x");
    m.graph!.initializer!.push({ name: "extra", dataType: 1, dims: [2, 3], rawData: new Uint8Array(24), docString: "unknown to the loader" });
    const bytes = encodeModel(m);
    const extra = readModelParts(bytes, "m.onnx").initializers.find((t) => t.name === "extra")!;
    assert.deepEqual(extra.dims, [2, 3]);
    // Field 1000 (varint) and field 1001 (fixed32) appended: unknown fields, skipped.
    const unknown = Uint8Array.from([...bytes, 0xc0, 0x3e, 0x05, 0xcd, 0x3e, 1, 2, 3, 4]);
    assert.equal(readModelParts(unknown, "m.onnx").initializers.length, m.graph!.initializer!.length);
    // A second graph field with one initializer: the last graph wins.
    const second = encodeModel({ graph: { initializer: [{ name: "only", dataType: 1, dims: [1], rawData: new Uint8Array(4) }] } });
    assert.deepEqual(readModelParts(Uint8Array.from([...bytes, ...second]), "m.onnx").initializers.map((t) => t.name), ["only"]);
  });

  it("refuses framing that runs past its message, bad wire types and endless varints", () => {
    refusedAsUnreadable(tiny.subarray(0, tiny.byteLength - 10), /runs past the end/);
    refusedAsUnreadable(Uint8Array.from([0x3a, 0x05, 0x2a, 0x09]), /runs past the end of its message/); // graph of 5 bytes, 2 there
    refusedAsUnreadable(Uint8Array.from([0x0f]), /invalid wire type 7/);
    refusedAsUnreadable(Uint8Array.from([0x38, 0x01]), /graph \(field 7\) has wire type 0, expected 2/);
    refusedAsUnreadable(Uint8Array.from([0x08, ...Array(11).fill(0xff)]), /varint longer than 10 bytes/);
    refusedAsUnreadable(Uint8Array.from([0x72, 0x10, 0x0a, 0x01, 0x6b]), /runs past the end/); // metadata entry longer than the file
  });

  it("fp32 tensors and scales are checked in place at every alignment, with the words of checkFinite", () => {
    for (let shift = 0; shift < 4; shift++) {
      // producer_name comes before the graph: its length moves every tensor's offset.
      const edit = (f: (m: ReturnType<typeof decodeModel>) => void) => {
        const m = decodeModel(new Uint8Array(tiny), "x");
        m.producerName = "x".repeat(shift);
        f(m);
        return encodeModel(m);
      };
      const setFloat = (raw: Uint8Array, index: number, value: number) => new DataView(raw.buffer, raw.byteOffset).setFloat32(4 * index, value, true);
      const init = (m: ReturnType<typeof decodeModel>, name: string) => m.graph!.initializer!.find((t) => t.name === name)!.rawData!;
      assert.ok(parseModelFile(edit(() => {}), "m.onnx"));
      for (const [value, index] of [[NaN, 5], [Infinity, 7], [-Infinity, 0]] as const) {
        assert.throws(() => parseModelFile(edit((m) => setFloat(init(m, "wpe.weight"), index, value)), "m.onnx"),
          new RegExp(`m\\.onnx: tensor wpe\\.weight: tensor holds a non-finite value; expected finite numbers, found ${value} at index ${index}$`));
      }
      const scale = readModelParts(tiny, "x").initializers.find((t) => t.name.endsWith(".scale") && t.rawData.byteLength > 8)!.name;
      assert.throws(() => parseModelFile(edit((m) => setFloat(init(m, scale), 1, -0.5)), "m.onnx"), new RegExp(`tensor ${scale.replaceAll(".", "\\.")}: bad scale; expected finite steps >= 0, found -0\\.5 at index 1`));
    }
  });

  it("parseModelFile decodes the whole ModelProto only when asked (inspect, scripts)", () => {
    const f = parseModelFile(tiny, "m.onnx");
    assert.equal(toNumber(f.model.irVersion), 12);
    assert.equal(f.model, f.model, "decoded once");
    assert.ok((f.model.graph?.node ?? []).length > 0);
  });
});

describe("checksum through Node's SHA-256", () => {
  const good = new Uint8Array(readFileSync(SHIPPED));
  const flipAt = (at: number) => {
    const f = parseModelFile(new Uint8Array(good), "m.onnx");
    f.bytes[at] ^= 0x01; // after the parse: only the checksum can see it
    return f;
  };

  it("passes the file as exported, from scratch and from a running hash of its first bytes", async () => {
    await verifyChecksum(parseModelFile(good, "m.onnx"), { sha256 });
    for (const length of [0, 1, 4096, good.byteLength - 65536]) {
      const prefix = { hash: sha256().update(good.subarray(0, length)), length };
      await verifyChecksum(parseModelFile(good, "m.onnx"), { sha256, prefix });
    }
  });

  it("refuses a flipped bit at the start, in the middle, in the tail and in the checksum itself", async () => {
    const checksumAt = good.byteLength - 71; // the exporter writes the entry last
    assert.equal(new TextDecoder().decode(good.subarray(checksumAt, checksumAt + 7)), "sha256:");
    for (const at of [0, good.byteLength >> 1, good.byteLength - 1000, checksumAt - 3, checksumAt + 20]) {
      await assert.rejects(verifyChecksum(flipAt(at), { sha256 }), /content does not match the file's checksum/, `byte ${at}`);
      const length = good.byteLength - 65536;
      const f = flipAt(at);
      const prefix = { hash: sha256().update(f.bytes.subarray(0, length)), length };
      await assert.rejects(verifyChecksum(f, { sha256, prefix }), /content does not match the file's checksum/, `byte ${at}, running hash`);
    }
  });

  it("loadModel from a path (hashing while it reads) refuses a flipped mantissa bit in a weight, and loads with the check off", async () => {
    const dir = tempDir();
    const path = join(dir, "flipped.onnx");
    const wpe = readModelParts(good, SHIPPED).initializers.find((t) => t.name === "wpe.weight")!.rawData;
    const bytes = new Uint8Array(good);
    bytes[wpe.byteOffset + 1000] ^= 0x01; // a finite float stays finite: the file still parses
    writeFileSync(path, bytes);
    await assert.rejects(loadModel(path), /flipped\.onnx: content does not match the file's checksum/);
    await assert.rejects(loadModel(bytes), /content does not match the file's checksum/);
    const unchecked = await loadGpt2Model(path, { verifyChecksum: false });
    assert.equal(unchecked.config.model_type, "gpt2");
    const intact = join(dir, "intact.onnx");
    copyFileSync(SHIPPED, intact);
    assert.equal((await loadGpt2Model(intact)).config.model_type, "gpt2");
    removeTempDir(dir);
  });
});

describe("lazy tokenizer", () => {
  it("the tokenizer of a loaded model gives the ids and text of one built eagerly from the reference parse", async () => {
    const model = await loadGpt2Model(SHIPPED);
    const f = parseModelFile(new Uint8Array(readFileSync(SHIPPED)), SHIPPED);
    const eager = BpeTokenizer.fromBpe(parseBpeFilesReference(f.metadata.get(META.vocab)!, f.metadata.get(META.merges)!, { vocab: "v", merges: "m" }));
    const text = "The President said that <|endoftext|> naïve café 😀 1234567 \u0085 \t\n don't";
    // Decode first on this one: each half of the tables is built on its own.
    const ids = eager.encode(text);
    assert.equal(model.tokenizer.decode(ids), eager.decode(ids));
    assert.deepEqual(model.tokenizer.encode(text), ids);
    assert.deepEqual(model.tokenizer.tokenBytes(ids[3]), eager.tokenBytes(ids[3]));
    assert.equal(model.tokenizer.vocabSize, eager.vocabSize);
    assert.throws(() => model.tokenizer.decode([eager.vocabSize]), /token id 50257 is not in the vocabulary/);
  });
});

describe("compiled kernels", () => {
  it("one module per content within a process; a module that does not compile is not kept", async () => {
    const wasm = new Uint8Array(readFileSync(join(ROOT, "build", "lowbit.simd.wasm")));
    const a = await compileKernels(wasm);
    assert.equal(await compileKernels(new Uint8Array(wasm)), a);
    assert.equal(await compileKernels(wasm.buffer), a);
    const scalar = await compileKernels(new Uint8Array(readFileSync(join(ROOT, "build", "lowbit.scalar.wasm"))));
    assert.notEqual(scalar, a);
    const broken = wasm.slice(0, 100);
    await assert.rejects(compileKernels(broken), WebAssembly.CompileError);
    await assert.rejects(compileKernels(broken), WebAssembly.CompileError);
    // Two models from one module have their own memories.
    const [m1, m2] = [await loadGpt2Model(tiny), await loadGpt2Model(tiny)];
    assert.notEqual(m1.executor, m2.executor);
    const ids1 = [];
    for await (const t of m1.generate([1, 2, 3], { maxNewTokens: 4 })) ids1.push(t.id);
    const ids2 = [];
    for await (const t of m2.generate([1, 2, 3], { maxNewTokens: 4 })) ids2.push(t.id);
    assert.deepEqual(ids1, ids2);
  });
});
