// Weights in WASM memory and the matrix products over them, shared by the GPT-2 and BART executors: a
// lowbit file's weights are placed exactly as stored (packed codes stay packed), and each product runs on
// the kernel that matches how its weight is stored (fp32, or intN codes with int8 or fp32 activations).
//
// Letters: T rows (tokens) in a product, K input features, N output features, C width, V vocab.

import { LowbitError } from "../errors.js";
import type { LowbitModelFile, WeightEntry } from "../format/lowbit_onnx.js";
import { KernelAbort, type Kernels } from "./kernels.js";

/** A weight in WASM memory: byte offsets of its stored data and scales, plus how to read them. */
export interface MappedWeight {
  data: number;
  scale: number;
  bits: number; // 32 for fp32
  groupSize: number;
  shape: number[];
  /**
   * "packed": the file's bytes as stored; "lut2": ternary codes repacked for the lookup-table kernel
   * (assembly/lut.ts's layout, the same size); "pairs": 4- or 8-bit codes repacked for the pairs kernel
   * (assembly/pairs.ts, the same size). Repacked layouts are made at load from the file's bytes.
   */
  layout: "packed" | "lut2" | "pairs";
}

/** How a weight is used: a linear layer's (K, N), or an embedding's (V, C) rows (the token lookup and the head). */
export type WeightRole = "linear" | "rows";

/** An allocation failure as the one-line error users see; other errors pass through. */
export function outOfMemory(err: unknown, what: string): unknown {
  if (err instanceof KernelAbort || err instanceof RangeError) {
    return new LowbitError("out of WASM memory", { file: what, found: (err as Error).message, hint: "use a shorter context or a smaller model" });
  }
  return err;
}

/** Every id an integer in 0..V−1, before any reaches the kernels (which would read outside the embedding). */
export function checkTokenIds(ids: ArrayLike<number>, V: number, what = "token"): void {
  for (let i = 0; i < ids.length; i++) {
    if (!Number.isInteger(ids[i]) || ids[i] < 0 || ids[i] >= V) {
      throw new LowbitError(`${what} id out of range`, { expected: `0..${V - 1}`, found: String(ids[i]) });
    }
  }
}

/** 16-byte-aligned WASM allocation of at least 16 bytes. */
export function allocate(k: Kernels, bytes: number): number {
  return k.allocate(Math.max(16, bytes));
}

/** Places the weights of one lowbit file into WASM memory, each the first time it is asked for. */
export class WeightPlacer {
  /** Bytes of the weights placed, exactly as the file stores them. */
  bytes = 0;
  private readonly byName: Map<string, WeightEntry>;
  private readonly placed = new Map<string, MappedWeight>();

  constructor(private readonly k: Kernels, private readonly file: LowbitModelFile) {
    this.byName = new Map(file.weights.map((w) => [w.name, w]));
  }

  /** The weight `name`, placed as `role` wants it (see WeightRole); a weight is placed once, in one role. */
  weight(name: string, role: WeightRole = "linear"): MappedWeight {
    const done = this.placed.get(name);
    if (done !== undefined) return done;
    const w = this.byName.get(name);
    if (w === undefined) throw new LowbitError("model file lacks a weight", { file: this.file.file, tensor: name });
    if (w.layout === "nbits") {
      throw new LowbitError("this runtime reads `--format dq` files; MatMulNBits weights are for onnxruntime", {
        file: this.file.file, tensor: w.name, hint: "re-export without --format nbits",
      });
    }
    const raw = this.file.initializers.get(w.initializer)!.raw;
    let mapped: MappedWeight;
    if (w.layout === "float") {
      mapped = { data: this.place(raw), scale: 0, bits: 32, groupSize: 0, shape: w.shape, layout: "packed" };
    } else {
      const groupSize = w.group_size ?? 0;
      const bits = w.bits!;
      const scale = this.place(this.file.initializers.get(w.scale!)!.raw);
      const repacked = this.repackedLayout(bits, groupSize, role);
      const data = repacked === "lut2" ? this.placeRepacked(raw, w.shape, role) : repacked === "pairs" ? this.placePairs(raw, w.shape, bits) : undefined;
      mapped = data === undefined
        ? { data: this.place(raw), scale, bits, groupSize, shape: w.shape, layout: "packed" }
        : { data, scale, bits, groupSize, shape: w.shape, layout: repacked! };
    }
    this.placed.set(name, mapped);
    return mapped;
  }

  /**
   * The repacked layout a weight takes, if any: under int8 activations and with scale groups of whole input
   * pairs, ternary weights take the lookup tables (linear layers and the head) and 4- and 8-bit linear
   * layers the pairs kernel (the head keeps its rows: headQ reads them contiguously already).
   */
  private repackedLayout(bits: number, groupSize: number, role: WeightRole): "lut2" | "pairs" | undefined {
    if (!this.k.lookupTables || this.file.quantization.activation_bits !== 8 || groupSize % 2 !== 0) return undefined;
    if (bits === 2) return "lut2";
    return role === "linear" ? "pairs" : undefined;
  }

  /** Repacks a 4- or 8-bit linear weight for assembly/pairs.ts, through the staging area as placeRepacked. */
  private placePairs(raw: Uint8Array, shape: number[], bits: number): number {
    const [K, N] = shape;
    const bytes = this.k.pairsBytes(K, N, bits);
    const dst = allocate(this.k, bytes);
    const src = this.k.stage(raw.byteLength);
    new Uint8Array(this.k.memory.buffer, src, raw.byteLength).set(raw);
    this.k.repackPairs(src, K, N, bits, dst);
    this.bytes += bytes;
    return dst;
  }

  /**
   * Repacks a 2-bit weight for assembly/lut.ts: the file's bytes go to a staging area past the allocations
   * (reused by the next one, so they cost no memory), and the repack writes the weight's own allocation.
   * undefined when a code is −2 (not ternary): the caller then places the bytes as stored.
   */
  private placeRepacked(raw: Uint8Array, shape: number[], role: WeightRole): number | undefined {
    const [K, N] = role === "rows" ? [shape[1], shape[0]] : [shape[0], shape[1]];
    const bytes = this.k.lutBytes(K, N);
    const dst = allocate(this.k, bytes);
    const src = this.k.stage(raw.byteLength);
    new Uint8Array(this.k.memory.buffer, src, raw.byteLength).set(raw);
    const bad = role === "rows" ? this.k.repackLutVC(src, N, K, dst) : this.k.repackLutKN(src, K, N, dst);
    if (bad !== 0) return undefined;
    this.bytes += bytes;
    return dst;
  }

  /** An fp32 vector (bias, LayerNorm gain, position table): its byte offset. */
  vector(name: string): number {
    return this.weight(name).data;
  }

  private place(bytes: Uint8Array): number {
    const ptr = allocate(this.k, bytes.byteLength);
    new Uint8Array(this.k.memory.buffer, ptr, bytes.byteLength).set(bytes);
    this.bytes += bytes.byteLength;
    return ptr;
  }
}

/** x (C) = row v of an embedding (V, C) placed in the "rows" role, as f32. */
export function embedRow(k: Kernels, e: MappedWeight, v: number, C: number, out: number): void {
  if (e.layout === "lut2") k.embedRowLut(v, C, e.data, e.scale, e.groupSize, out);
  else k.embedRow(v, C, e.data, e.bits, e.scale, e.groupSize, out);
}

/**
 * out (T, N) = in (T, K) · W + b and logits = x · headᵀ, on the kernel that matches each weight's storage,
 * split over the kernels' threads (Kernels.runner). Owns the scratch the int8 paths need, sized once for
 * the largest product the executor runs.
 */
export class MatrixProducts {
  private readonly xq: number; // (maxRows, maxK) int8
  private readonly sx: number; // (maxRows) f32
  private readonly acc: number; // (⌈max(maxN, headRows)/64⌉·64) i32 / f32
  private readonly perm: number; // (maxN) i32
  private readonly xperm: number; // 6·maxK bytes: headPermute's activations and group sums
  private readonly xp: number; // (maxRows, ⌈maxK/2⌉) i32: pairsActivations
  private readonly tables: number; // (maxRows, ⌈maxK/2⌉, 32 bytes): lookup tables, when a weight is "lut2"

  /** headRows: the vocabulary, when headRow() runs on the lookup-table kernel (its accumulators are per output). */
  constructor(private readonly k: Kernels, readonly activationBits: 8 | 32, maxRows: number, maxK: number, maxN: number, headRows = 0) {
    this.xq = allocate(k, maxRows * maxK);
    this.sx = allocate(k, maxRows * 4);
    this.acc = allocate(k, (Math.ceil(Math.max(maxN, headRows) / 64) * 64) * 4);
    this.perm = allocate(k, maxN * 4);
    this.xperm = allocate(k, 6 * maxK);
    this.xp = activationBits === 8 && k.lookupTables ? allocate(k, maxRows * Math.ceil(maxK / 2) * 4) : 0;
    this.tables = activationBits === 8 && k.lookupTables ? allocate(k, maxRows * Math.ceil(maxK / 2) * 32) : 0;
  }

  /** out (T, N) = in (T, K) · W (K, N) + b (N). */
  linear(input: number, T: number, K: number, N: number, w: MappedWeight, bias: number, out: number): void {
    const { k } = this;
    if (w.bits === 32) {
      k.runner.run("matmulF32", [input, T, K, N, w.data, bias, out]);
    } else if (this.activationBits === 8) {
      k.quantizeActivationRows(input, this.xq, this.sx, T, K);
      if (w.layout === "lut2") {
        k.lutTables(this.xq, T, K, this.tables);
        k.runner.run("matmulLut", [this.tables, this.sx, T, K, N, w.data, w.scale, w.groupSize, 0, bias, out, this.acc]);
      } else if (w.layout === "pairs") {
        k.pairsActivations(this.xq, T, K, this.xp);
        k.runner.run("matmulPairs", [this.xp, this.sx, T, K, N, w.data, w.bits, w.scale, w.groupSize, bias, out, this.acc]);
      } else {
        k.runner.run("matmulQ", [this.xq, this.sx, T, K, N, w.data, w.bits, w.scale, w.groupSize, bias, out, this.acc, this.perm]);
      }
    } else {
      k.runner.run("matmulQf32", [input, T, K, N, w.data, w.bits, w.scale, w.groupSize, bias, out, this.acc]);
    }
  }

  /** logits (V) = final (C) · headᵀ, head (V, C) placed in the "rows" role. */
  headRow(final: number, V: number, C: number, h: MappedWeight, out: number): void {
    const { k } = this;
    if (h.bits === 32) {
      k.runner.run("headF32", [final, V, C, h.data, out]);
    } else if (this.activationBits === 8) {
      k.quantizeActivationRows(final, this.xq, this.sx, 1, C);
      if (h.layout === "lut2") {
        k.lutTables(this.xq, 1, C, this.tables);
        k.runner.run("matmulLut", [this.tables, this.sx, 1, C, V, h.data, h.scale, h.groupSize, 1, 0, out, this.acc]);
      } else {
        k.headPermute(this.xq, C, h.bits, h.groupSize, this.xperm);
        k.runner.run("headQ", [this.xq, new Float32Array(k.memory.buffer, this.sx, 1)[0], V, C, h.data, h.bits, h.scale, h.groupSize, out, this.xperm]);
      }
    } else {
      k.runner.run("headQf32", [final, V, C, h.data, h.bits, h.scale, h.groupSize, out]);
    }
  }
}
