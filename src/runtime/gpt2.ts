// GPT-2 executor over the WASM kernels: maps a lowbit file's weights into WASM memory exactly as stored
// (packed codes stay packed), keeps a KV cache, and runs the forward pass by hand (no graph
// interpretation). A prompt goes through each layer as matrix products, in chunks of up to CHUNK tokens;
// decoding then adds one token at a time against the cache. The reference forward (src/reference/gpt2.ts)
// computes the same f32 operations in the same order, so on int8-activation models the two agree bit for
// bit; src/reference/common.ts's header lists what they share and why. Change an epilogue, a summation order or a precision
// here or in assembly/ and it must change there too (test/runtime/reference_match.test.ts checks).
//
// Letters: T tokens in this step, P tokens already cached, S = P + T, C n_embd, NH heads, HS = C / NH,
// F n_inner, V vocab, L layers.

import { LowbitError } from "../errors.js";
import type { Gpt2Config } from "../format/gpt2_config.js";
import type { LowbitModelFile } from "../format/lowbit_onnx.js";
import type { Kernels } from "./kernels.js";
import { allocate, checkTokenIds, embedRow, MatrixProducts, outOfMemory, WeightPlacer, type MappedWeight } from "./weights.js";

/** Tokens per prefill chunk: bounds the activation scratch while keeping the products matrix-shaped. */
export const CHUNK = 64;

interface Layer {
  ln1: [number, number]; // gain, bias: (C)
  attn: MappedWeight; // (C, 3C)
  attnBias: number; // (3C)
  proj: MappedWeight; // (C, C)
  projBias: number; // (C)
  ln2: [number, number];
  fc: MappedWeight; // (C, F)
  fcBias: number; // (F)
  fcProj: MappedWeight; // (F, C)
  fcProjBias: number; // (C)
}

export interface Gpt2Options {
  /**
   * KV-cache rows: the most tokens (prompt + generated) one sequence may hold. Without it the cache is
   * sized by the first reserve() (generate() reserves prompt + max new tokens), at most n_positions.
   */
  contextLength?: number;
}

export class Gpt2Executor {
  readonly config: Gpt2Config;
  readonly activationBits: 8 | 32;
  /** Bytes of the weights placed in WASM memory, exactly as the file stores them. */
  readonly weightBytes: number;
  private cacheRows = 0;
  private keys: number[] = []; // per layer: (cacheRows, C) f32
  private values: number[] = [];
  private readonly k: Kernels;
  private readonly wte: MappedWeight;
  private readonly wpe: number; // (n_positions, C) f32
  private readonly head: MappedWeight; // (V, C): wte when tied
  private readonly lnf: [number, number];
  private readonly layers: Layer[] = [];
  private position = 0;
  // Scratch, sized for CHUNK tokens.
  private readonly x: number; // (CHUNK, C) residual stream
  private readonly h: number; // (CHUNK, C) LayerNorm output
  private readonly qkv: number; // (CHUNK, 3C)
  private readonly ctx: number; // (CHUNK, C)
  private readonly proj: number; // (CHUNK, C)
  private readonly mlp: number; // (CHUNK, F)
  private readonly products: MatrixProducts;
  private scores = 0; // (threads, cacheRows) f32
  private readonly logits: number; // (V) f32

  constructor(kernels: Kernels, file: LowbitModelFile, options: Gpt2Options = {}) {
    this.k = kernels;
    this.config = file.config as Gpt2Config;
    const c = this.config;
    this.activationBits = file.quantization.activation_bits === 8 ? 8 : 32;
    const C = c.n_embd;
    const F = c.n_inner;
    const V = c.vocab_size;

    try {
      const placer = new WeightPlacer(kernels, file);
      const weight = (name: string): MappedWeight => placer.weight(name);
      const vector = (name: string): number => placer.vector(name);

      this.wte = placer.weight("wte.weight", "rows");
      this.wpe = vector("wpe.weight");
      this.head = c.tie_word_embeddings ? this.wte : placer.weight("lm_head.weight", "rows");
      this.lnf = [vector("ln_f.weight"), vector("ln_f.bias")];
      for (let l = 0; l < c.n_layer; l++) {
        const p = `h.${l}`;
        this.layers.push({
          ln1: [vector(`${p}.ln_1.weight`), vector(`${p}.ln_1.bias`)],
          attn: weight(`${p}.attn.c_attn.weight`), attnBias: vector(`${p}.attn.c_attn.bias`),
          proj: weight(`${p}.attn.c_proj.weight`), projBias: vector(`${p}.attn.c_proj.bias`),
          ln2: [vector(`${p}.ln_2.weight`), vector(`${p}.ln_2.bias`)],
          fc: weight(`${p}.mlp.c_fc.weight`), fcBias: vector(`${p}.mlp.c_fc.bias`),
          fcProj: weight(`${p}.mlp.c_proj.weight`), fcProjBias: vector(`${p}.mlp.c_proj.bias`),
        });
      }
      this.weightBytes = placer.bytes;

      const maxN = Math.max(3 * C, F);
      this.x = this.alloc(CHUNK * C * 4);
      this.h = this.alloc(CHUNK * C * 4);
      this.qkv = this.alloc(CHUNK * 3 * C * 4);
      this.ctx = this.alloc(CHUNK * C * 4);
      this.proj = this.alloc(CHUNK * C * 4);
      this.mlp = this.alloc(CHUNK * F * 4);
      this.products = new MatrixProducts(kernels, this.activationBits, CHUNK, Math.max(C, F), maxN, this.head.layout === "lut2" ? V : 0);
      this.logits = this.alloc(V * 4);
    } catch (err) {
      throw outOfMemory(err, file.file);
    }
    if (options.contextLength !== undefined) this.reserve(options.contextLength);
  }

  private alloc(bytes: number): number {
    return allocate(this.k, bytes);
  }

  /** Rows the KV cache holds: the longest sequence (prompt + generated tokens) it can run. */
  get capacity(): number {
    return this.cacheRows;
  }

  /** Bytes of the KV cache in WASM memory. */
  get kvCacheBytes(): number {
    return 2 * this.config.n_layer * this.cacheRows * this.config.n_embd * 4;
  }

  /**
   * Makes the KV cache hold at least `rows` tokens (at most n_positions). A larger cache is a new
   * allocation: the kernels' memory is never freed, so size it once where you can.
   */
  reserve(rows: number): void {
    const c = this.config;
    if (!Number.isInteger(rows) || rows < 1 || rows > c.n_positions) {
      throw new LowbitError("bad context length", { expected: `1..${c.n_positions} (n_positions)`, found: String(rows) });
    }
    if (rows <= this.cacheRows) return;
    try {
      const bytes = rows * c.n_embd * 4;
      const keys = this.layers.map(() => this.alloc(bytes));
      const values = this.layers.map(() => this.alloc(bytes));
      const scores = this.alloc(rows * 4 * this.k.runner.threads); // one row of scores per thread
      // Keep what is cached when the cache moves.
      const heap = new Uint8Array(this.k.memory.buffer);
      const used = this.position * c.n_embd * 4;
      for (let l = 0; l < this.layers.length; l++) {
        if (used > 0) heap.copyWithin(keys[l], this.keys[l], this.keys[l] + used);
        if (used > 0) heap.copyWithin(values[l], this.values[l], this.values[l] + used);
      }
      [this.keys, this.values, this.scores, this.cacheRows] = [keys, values, scores, rows];
    } catch (err) {
      throw outOfMemory(err, `a KV cache of ${rows} tokens`);
    }
  }

  /** Tokens held in the KV cache. */
  get length(): number {
    return this.position;
  }

  /** Empties the KV cache: the next forward starts at position 0. */
  reset(): void {
    this.position = 0;
  }

  /**
   * Runs `tokens` after what the cache holds. Returns the logits (V) of the last token, or with `all`
   * the logits (T, V) of every token. The returned arrays are copies.
   */
  forward(tokens: ArrayLike<number>, all = false): Float32Array {
    const c = this.config;
    const V = c.vocab_size;
    if (tokens.length === 0) throw new LowbitError("forward needs at least one token");
    if (this.position + tokens.length > c.n_positions) {
      throw new LowbitError("sequence longer than the context", { expected: `at most n_positions = ${c.n_positions} tokens`, found: `${this.position + tokens.length}` });
    }
    if (this.position + tokens.length > this.cacheRows) this.reserve(this.position + tokens.length);
    checkTokenIds(tokens, V);
    const out = new Float32Array(all ? tokens.length * V : V);
    for (let start = 0; start < tokens.length; start += CHUNK) {
      const T = Math.min(CHUNK, tokens.length - start);
      const last = start + T === tokens.length;
      const headRows = all ? T : last ? 1 : 0;
      // Each head row's logits are copied out before the next overwrites the (V) scratch.
      this.forwardChunk(Array.from({ length: T }, (_, i) => tokens[start + i]), headRows, (r) => {
        const view = new Float32Array(this.k.memory.buffer, this.logits, V);
        out.set(view, all ? (start + T - headRows + r) * V : 0);
      });
    }
    return out;
  }

  /** One chunk of T ≤ CHUNK tokens; computes the logits of its last `headRows` tokens, one row at a time. */
  private forwardChunk(tokens: number[], headRows: number, take: (row: number) => void): void {
    const k = this.k;
    const c = this.config;
    const C = c.n_embd;
    const F = c.n_inner;
    const T = tokens.length;
    const P = this.position;
    const eps = c.layer_norm_epsilon;

    for (let t = 0; t < T; t++) {
      const row = this.x + t * C * 4;
      embedRow(k, this.wte, tokens[t], C, row);
      k.addInPlace(row, this.wpe + (P + t) * C * 4, C);
    }
    const heap = new Float32Array(k.memory.buffer);
    for (let l = 0; l < this.layers.length; l++) {
      const layer = this.layers[l];
      k.layerNorm(this.x, T, C, layer.ln1[0], layer.ln1[1], eps, this.h);
      this.linear(this.h, T, C, 3 * C, layer.attn, layer.attnBias, this.qkv);
      for (let t = 0; t < T; t++) {
        // Append this token's key and value (columns C..2C and 2C..3C of qkv) to the cache.
        const src = (this.qkv >> 2) + t * 3 * C;
        heap.copyWithin((this.keys[l] >> 2) + (P + t) * C, src + C, src + 2 * C);
        heap.copyWithin((this.values[l] >> 2) + (P + t) * C, src + 2 * C, src + 3 * C);
      }
      k.runner.run("attendHeads", [this.qkv, 3 * C, T, C, c.n_head, this.keys[l], this.values[l], P + T, 1, this.ctx, this.scores]);
      this.linear(this.ctx, T, C, C, layer.proj, layer.projBias, this.proj);
      k.addInPlace(this.x, this.proj, T * C);
      k.layerNorm(this.x, T, C, layer.ln2[0], layer.ln2[1], eps, this.h);
      this.linear(this.h, T, C, F, layer.fc, layer.fcBias, this.mlp);
      k.runner.run("geluSlice", [this.mlp, T * F]);
      this.linear(this.mlp, T, F, C, layer.fcProj, layer.fcProjBias, this.proj);
      k.addInPlace(this.x, this.proj, T * C);
    }
    this.position += T;
    if (headRows === 0) return;
    const first = T - headRows;
    k.layerNorm(this.x + first * C * 4, headRows, C, this.lnf[0], this.lnf[1], eps, this.h);
    for (let r = 0; r < headRows; r++) {
      this.headRow(this.h + r * C * 4, this.logits);
      take(r);
    }
  }

  /** out (T, N) = in (T, K) · W + b, by the kernel that matches how W is stored. */
  private linear(input: number, T: number, K: number, N: number, w: MappedWeight, bias: number, out: number): void {
    this.products.linear(input, T, K, N, w, bias, out);
  }

  /** logits (V) = final (C) · headᵀ. */
  private headRow(final: number, out: number): void {
    this.products.headRow(final, this.config.vocab_size, this.config.n_embd, this.head, out);
  }
}
