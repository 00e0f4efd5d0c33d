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
}

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

  weight(name: string): MappedWeight {
    const done = this.placed.get(name);
    if (done !== undefined) return done;
    const w = this.byName.get(name);
    if (w === undefined) throw new LowbitError("model file lacks a weight", { file: this.file.file, tensor: name });
    if (w.layout === "nbits") {
      throw new LowbitError("this runtime reads `--format dq` files; MatMulNBits weights are for onnxruntime", {
        file: this.file.file, tensor: w.name, hint: "re-export without --format nbits",
      });
    }
    const data = this.place(this.file.initializers.get(w.initializer)!.raw);
    const mapped = w.layout === "float"
      ? { data, scale: 0, bits: 32, groupSize: 0, shape: w.shape }
      : { data, scale: this.place(this.file.initializers.get(w.scale!)!.raw), bits: w.bits!, groupSize: w.group_size ?? 0, shape: w.shape };
    this.placed.set(name, mapped);
    return mapped;
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

/**
 * out (T, N) = in (T, K) · W + b and logits = x · headᵀ, on the kernel that matches each weight's storage.
 * Owns the scratch the int8 path needs, sized once for the largest product the executor runs.
 */
export class MatrixProducts {
  private readonly xq: number; // (maxRows, maxK) int8
  private readonly sx: number; // (maxRows) f32
  private readonly acc: number; // (maxN) i32 / f32
  private readonly perm: number; // (maxN) i32
  private readonly xperm: number; // (maxK) int8

  constructor(private readonly k: Kernels, readonly activationBits: 8 | 32, maxRows: number, maxK: number, maxN: number) {
    this.xq = allocate(k, maxRows * maxK);
    this.sx = allocate(k, maxRows * 4);
    this.acc = allocate(k, maxN * 4);
    this.perm = allocate(k, maxN * 4);
    this.xperm = allocate(k, maxK);
  }

  /** out (T, N) = in (T, K) · W (K, N) + b (N). */
  linear(input: number, T: number, K: number, N: number, w: MappedWeight, bias: number, out: number): void {
    const k = this.k;
    if (w.bits === 32) {
      k.matmulF32(input, T, K, N, w.data, bias, out);
    } else if (this.activationBits === 8) {
      k.quantizeActivationRows(input, this.xq, this.sx, T, K);
      k.matmulQ(this.xq, this.sx, T, K, N, w.data, w.bits, w.scale, w.groupSize, bias, out, this.acc, this.perm);
    } else {
      k.matmulQf32(input, T, K, N, w.data, w.bits, w.scale, w.groupSize, bias, out, this.acc);
    }
  }

  /** logits (V) = final (C) · headᵀ, head (V, C) in embedding layout. */
  headRow(final: number, V: number, C: number, h: MappedWeight, out: number): void {
    const k = this.k;
    if (h.bits === 32) {
      k.headF32(final, V, C, h.data, out);
    } else if (this.activationBits === 8) {
      k.quantizeActivationRows(final, this.xq, this.sx, 1, C);
      k.headQ(this.xq, new Float32Array(k.memory.buffer, this.sx, 1)[0], V, C, h.data, h.bits, h.scale, h.groupSize, out, this.xperm);
    } else {
      k.headQf32(final, V, C, h.data, h.bits, h.scale, h.groupSize, out);
    }
  }
}
