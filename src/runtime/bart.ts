// BART executor over the WASM kernels: maps the two files of a BART export (encoder, merged decoder) into
// WASM memory as stored, runs the encoder once per input, computes every decoder layer's cross-attention keys
// and values once from its output, and then decodes a batch of rows (beams) one token per row per step, each
// row with its own self-attention cache. Beam reordering remaps cache slots and copies only where two new
// rows continue the same old one. The reference forward (src/reference/bart.ts) computes the same f32
// operations in the same order (see src/reference/common.ts's header for why that matters).
//
// Letters: S source tokens, T tokens in a product, B decoder rows (beams), P decoder tokens cached per row,
// d d_model, NH heads, HS = d / NH, F FFN width, V vocab, L layers.

import { LowbitError } from "../errors.js";
import { BART_POSITION_OFFSET, type BartConfig } from "../format/bart_config.js";
import type { LowbitModelFile } from "../format/lowbit_onnx.js";
import type { Kernels } from "./kernels.js";
import { allocate, checkTokenIds, embedRow, MatrixProducts, outOfMemory, WeightPlacer, type MappedWeight } from "./weights.js";

/** Rows per encoder matrix product: bounds the scratch while keeping the products matrix-shaped. */
export const ENCODER_CHUNK = 64;

interface Linear {
  w: MappedWeight; // (K, N)
  b: number; // (N)
}

interface Attention {
  q: Linear;
  k: Linear;
  v: Linear;
  out: Linear;
  ln: [number, number]; // the LayerNorm after the residual add: gain, bias (d)
}

interface Ffn {
  fc1: Linear; // (d, F)
  fc2: Linear; // (F, d)
  ln: [number, number];
}

interface EncoderLayer {
  self: Attention;
  ffn: Ffn;
}

interface DecoderLayer {
  self: Attention;
  cross: Attention;
  ffn: Ffn;
}

export interface BartOptions {
  /** Decoder rows to size the scratch for (the most beams); more are allocated when asked for. */
  maxRows?: number;
}

export class BartExecutor {
  readonly config: BartConfig;
  readonly activationBits: 8 | 32;
  /** Bytes of the weights placed in WASM memory (shared.weight once), exactly as the files store them. */
  readonly weightBytes: number;
  private readonly k: Kernels;
  private products!: MatrixProducts; // set by reserveScratch()
  private readonly shared: MappedWeight; // (V, d): embedding and LM head
  private readonly finalLogitsBias: number; // (V)
  private readonly encPositions: number; // (P_max + 2, d)
  private readonly decPositions: number;
  private readonly encLnEmbedding: [number, number];
  private readonly decLnEmbedding: [number, number];
  private readonly encoderLayers: EncoderLayer[] = [];
  private readonly decoderLayers: DecoderLayer[] = [];
  private readonly embedScale: number; // f32(√d), or 1
  private readonly geluKind: "erf" | "tanh";
  private readonly maxF: number;

  // Encoder side, sized for `sourceRows` tokens by reserveSource().
  private sourceRows = 0;
  private sourceLength = 0; // S of the input encode() last ran
  private encX = 0; // (S, d) residual stream; the encoder's output after the last layer
  private encK = 0; // (S, d) self-attention keys of the layer being run
  private encV = 0;
  private crossK: number[] = []; // per decoder layer: (S, d)
  private crossV: number[] = [];
  private encScores = 0; // (threads, S) f32

  // Decoder side: rows (beams) and cache slots.
  private rowCapacity = 0; // scratch rows
  private cacheRows = 0; // tokens each slot's cache holds
  private slots = 0; // cache slots allocated
  private selfK: number[][] = []; // per layer, per slot: (cacheRows, d)
  private selfV: number[][] = [];
  private slotOf: number[] = []; // row → slot
  private rows = 0;
  private position = 0; // decoder tokens cached per row
  private decScores = 0; // (threads, cacheRows) f32

  // Scratch: max(ENCODER_CHUNK, rowCapacity) rows.
  private scratchRows = 0;
  private h = 0; // (rows, d)
  private q = 0; // (rows, d)
  private kv = 0; // (rows, 2d): new keys and values of the rows
  private ctx = 0; // (rows, d)
  private proj = 0; // (rows, d)
  private mlp = 0; // (rows, F)
  private readonly logits: number; // (V)

  constructor(kernels: Kernels, files: { encoder: LowbitModelFile; decoder: LowbitModelFile }, options: BartOptions = {}) {
    this.k = kernels;
    const { encoder, decoder } = files;
    this.config = encoder.config as BartConfig;
    const c = this.config;
    this.activationBits = encoder.quantization.activation_bits === 8 ? 8 : 32;
    this.embedScale = c.scale_embedding ? Math.fround(Math.sqrt(c.d_model)) : 1;
    this.geluKind = c.activation_function === "gelu" ? "erf" : "tanh";
    const d = c.d_model;
    this.maxF = Math.max(c.encoder_ffn_dim, c.decoder_ffn_dim);
    try {
      const enc = new WeightPlacer(kernels, encoder);
      const dec = new WeightPlacer(kernels, decoder);
      const linear = (p: WeightPlacer, m: string): Linear => ({ w: p.weight(`${m}.weight`), b: p.vector(`${m}.bias`) });
      const ln = (p: WeightPlacer, m: string): [number, number] => [p.vector(`${m}.weight`), p.vector(`${m}.bias`)];
      const attention = (p: WeightPlacer, m: string, norm: string): Attention => ({
        q: linear(p, `${m}.q_proj`), k: linear(p, `${m}.k_proj`), v: linear(p, `${m}.v_proj`), out: linear(p, `${m}.out_proj`), ln: ln(p, norm),
      });
      const ffn = (p: WeightPlacer, m: string): Ffn => ({ fc1: linear(p, `${m}.fc1`), fc2: linear(p, `${m}.fc2`), ln: ln(p, `${m}.final_layer_norm`) });

      // shared.weight lives in both files (each must stand alone for other runtimes); it is placed once,
      // after checking that the two copies are the same bytes.
      checkSameSharedWeight(encoder, decoder);
      this.shared = enc.weight("shared.weight", "rows");
      this.encPositions = enc.vector("encoder.embed_positions.weight");
      this.encLnEmbedding = ln(enc, "encoder.layernorm_embedding");
      for (let l = 0; l < c.encoder_layers; l++) {
        const m = `encoder.layers.${l}`;
        this.encoderLayers.push({ self: attention(enc, `${m}.self_attn`, `${m}.self_attn_layer_norm`), ffn: ffn(enc, m) });
      }
      this.finalLogitsBias = dec.vector("final_logits_bias");
      this.decPositions = dec.vector("decoder.embed_positions.weight");
      this.decLnEmbedding = ln(dec, "decoder.layernorm_embedding");
      for (let l = 0; l < c.decoder_layers; l++) {
        const m = `decoder.layers.${l}`;
        this.decoderLayers.push({
          self: attention(dec, `${m}.self_attn`, `${m}.self_attn_layer_norm`),
          cross: attention(dec, `${m}.encoder_attn`, `${m}.encoder_attn_layer_norm`),
          ffn: ffn(dec, m),
        });
      }
      this.weightBytes = enc.bytes + dec.bytes;
      this.reserveScratch(Math.max(ENCODER_CHUNK, options.maxRows ?? 1));
      this.logits = allocate(kernels, c.vocab_size * 4);
    } catch (err) {
      throw outOfMemory(err, encoder.file);
    }
  }

  /** Bytes of the caches in WASM memory: cross-attention K/V of the source and every slot's self-attention K/V. */
  get cacheBytes(): number {
    const c = this.config;
    return 4 * c.d_model * (2 * c.decoder_layers * this.sourceRows + 2 * c.decoder_layers * this.slots * this.cacheRows);
  }

  /** Source tokens of the input encode() last ran. */
  get encodedLength(): number {
    return this.sourceLength;
  }

  /** Decoder tokens cached per row. */
  get length(): number {
    return this.position;
  }

  /** Sizes the per-row scratch, and the products' int8 scratch, for `rows` rows. */
  private reserveScratch(rows: number): void {
    if (rows <= this.scratchRows) return;
    const d = this.config.d_model;
    this.products = new MatrixProducts(this.k, this.activationBits, rows, Math.max(d, this.maxF), Math.max(d, this.maxF), this.shared.layout === "lut2" ? this.config.vocab_size : 0);
    this.h = allocate(this.k, rows * d * 4);
    this.q = allocate(this.k, rows * d * 4);
    this.kv = allocate(this.k, rows * 2 * d * 4);
    this.ctx = allocate(this.k, rows * d * 4);
    this.proj = allocate(this.k, rows * d * 4);
    this.mlp = allocate(this.k, rows * this.maxF * 4);
    this.scratchRows = rows;
  }

  /** Makes the encoder's buffers hold `rows` source tokens (at most max_position_embeddings). */
  private reserveSource(rows: number): void {
    if (rows <= this.sourceRows) return;
    const c = this.config;
    const bytes = rows * c.d_model * 4;
    try {
      this.encX = allocate(this.k, bytes);
      this.encK = allocate(this.k, bytes);
      this.encV = allocate(this.k, bytes);
      this.crossK = this.decoderLayers.map(() => allocate(this.k, bytes));
      this.crossV = this.decoderLayers.map(() => allocate(this.k, bytes));
      this.encScores = allocate(this.k, rows * 4 * this.k.runner.threads); // one row of scores per thread
      this.sourceRows = rows;
    } catch (err) {
      throw outOfMemory(err, `an encoder input of ${rows} tokens`);
    }
  }

  /**
   * x (rows at `out`) = LayerNorm_embedding(shared[id] · embed_scale + positions[p + 2]), where row t is at
   * position `position(t)`: t along the source, the same P for every decoder row (beam).
   */
  private embed(ids: ArrayLike<number>, position: (t: number) => number, positions: number, ln: [number, number], out: number): void {
    const k = this.k;
    const d = this.config.d_model;
    for (let t = 0; t < ids.length; t++) {
      const row = out + t * d * 4;
      embedRow(k, this.shared, ids[t], d, row);
      if (this.embedScale !== 1) {
        const v = new Float32Array(k.memory.buffer, row, d);
        for (let i = 0; i < d; i++) v[i] = Math.fround(v[i] * this.embedScale);
      }
      k.addInPlace(row, positions + (position(t) + BART_POSITION_OFFSET) * d * 4, d);
    }
    k.layerNorm(out, ids.length, d, ln[0], ln[1], this.config.layer_norm_epsilon, out);
  }

  private linear(input: number, T: number, K: number, N: number, l: Linear, out: number): void {
    this.products.linear(input, T, K, N, l.w, l.b, out);
  }

  /** x (T, d) = LayerNorm(x + fc2(act(fc1(x)))), in place. */
  private feedForward(x: number, T: number, f: Ffn, F: number): void {
    const k = this.k;
    const d = this.config.d_model;
    this.linear(x, T, d, F, f.fc1, this.mlp);
    k.runner.run(this.geluKind === "erf" ? "geluErfSlice" : "geluSlice", [this.mlp, T * F]);
    this.linear(this.mlp, T, F, d, f.fc2, this.proj);
    k.addInPlace(x, this.proj, T * d);
    k.layerNorm(x, T, d, f.ln[0], f.ln[1], this.config.layer_norm_epsilon, x);
  }

  /**
   * Runs the encoder over one input and computes every decoder layer's cross-attention keys and values.
   * Resets the decoder (no rows).
   */
  encode(inputIds: ArrayLike<number>): void {
    const k = this.k;
    const c = this.config;
    const d = c.d_model;
    const NH = c.encoder_attention_heads;
    const S = inputIds.length;
    if (S === 0) throw new LowbitError("empty input", { expected: "at least one token" });
    if (S > c.max_position_embeddings) {
      throw new LowbitError("input longer than the encoder's positions", { expected: `at most max_position_embeddings = ${c.max_position_embeddings} tokens`, found: String(S) });
    }
    checkTokenIds(inputIds, this.config.vocab_size, "input token");
    this.reserveSource(S);
    this.rows = 0;
    this.position = 0;
    this.embed(inputIds, (t) => t, this.encPositions, this.encLnEmbedding, this.encX);
    for (const layer of this.encoderLayers) {
      const a = layer.self;
      // Keys and values of every source row from the layer's input, before any row is updated.
      for (let t0 = 0; t0 < S; t0 += ENCODER_CHUNK) {
        const T = Math.min(ENCODER_CHUNK, S - t0);
        this.linear(this.encX + t0 * d * 4, T, d, d, a.k, this.encK + t0 * d * 4);
        this.linear(this.encX + t0 * d * 4, T, d, d, a.v, this.encV + t0 * d * 4);
      }
      for (let t0 = 0; t0 < S; t0 += ENCODER_CHUNK) {
        const T = Math.min(ENCODER_CHUNK, S - t0);
        const x = this.encX + t0 * d * 4;
        this.linear(x, T, d, d, a.q, this.q);
        k.runner.run("attendHeads", [this.q, d, T, d, NH, this.encK, this.encV, S, 0, this.ctx, this.encScores]);
        this.linear(this.ctx, T, d, d, a.out, this.proj);
        k.addInPlace(x, this.proj, T * d);
        k.layerNorm(x, T, d, a.ln[0], a.ln[1], c.layer_norm_epsilon, x);
        this.feedForward(x, T, layer.ffn, c.encoder_ffn_dim);
      }
    }
    for (let l = 0; l < this.decoderLayers.length; l++) {
      const a = this.decoderLayers[l].cross;
      for (let t0 = 0; t0 < S; t0 += ENCODER_CHUNK) {
        const T = Math.min(ENCODER_CHUNK, S - t0);
        this.linear(this.encX + t0 * d * 4, T, d, d, a.k, this.crossK[l] + t0 * d * 4);
        this.linear(this.encX + t0 * d * 4, T, d, d, a.v, this.crossV[l] + t0 * d * 4);
      }
    }
    this.sourceLength = S;
  }

  /** The encoder's output for the last input: (S, d), a copy. */
  encoderOutput(): Float32Array {
    return new Float32Array(this.k.memory.buffer, this.encX, this.sourceLength * this.config.d_model).slice();
  }

  /**
   * Starts `rows` decoder rows with empty caches, able to hold `maxTokens` decoder tokens each (at most
   * max_position_embeddings). Call after encode().
   */
  startDecoder(rows: number, maxTokens: number): void {
    const c = this.config;
    if (this.sourceLength === 0) throw new LowbitError("internal: startDecoder() before encode()");
    if (!Number.isInteger(rows) || rows < 1 || rows > 1024) throw new LowbitError("bad number of decoder rows (beams)", { expected: "1..1024", found: String(rows) });
    if (!Number.isInteger(maxTokens) || maxTokens < 1 || maxTokens > c.max_position_embeddings) {
      throw new LowbitError("bad decoder length", { expected: `1..${c.max_position_embeddings} (max_position_embeddings)`, found: String(maxTokens) });
    }
    try {
      this.reserveScratch(rows);
      if (rows > this.slots || maxTokens > this.cacheRows) {
        const slots = Math.max(rows, this.slots);
        const cacheRows = Math.max(maxTokens, this.cacheRows);
        const bytes = cacheRows * c.d_model * 4;
        this.selfK = this.decoderLayers.map(() => Array.from({ length: slots }, () => allocate(this.k, bytes)));
        this.selfV = this.decoderLayers.map(() => Array.from({ length: slots }, () => allocate(this.k, bytes)));
        this.decScores = allocate(this.k, cacheRows * 4 * this.k.runner.threads);
        [this.slots, this.cacheRows] = [slots, cacheRows];
      }
    } catch (err) {
      throw outOfMemory(err, `a decoder cache of ${rows} × ${maxTokens} tokens`);
    }
    this.rows = rows;
    this.slotOf = Array.from({ length: rows }, (_, i) => i);
    this.position = 0;
  }

  /**
   * New row i continues old row from[i]. A row continued once keeps its cache slot; each further
   * continuation takes a slot no new row continues and gets a copy of the cached rows.
   */
  reorder(from: number[]): void {
    if (from.length < 1 || from.length > this.slots) throw new LowbitError("bad beam reorder", { expected: `1..${this.slots} rows`, found: String(from.length) });
    for (const f of from) if (!Number.isInteger(f) || f < 0 || f >= this.rows) throw new LowbitError("bad beam reorder", { expected: `rows 0..${this.rows - 1}`, found: String(f) });
    const taken = new Set<number>();
    const slotOf: number[] = [];
    const needCopy: number[] = [];
    for (let i = 0; i < from.length; i++) {
      const slot = this.slotOf[from[i]];
      if (taken.has(slot)) needCopy.push(i);
      else taken.add(slot);
      slotOf.push(slot);
    }
    const free = Array.from({ length: this.slots }, (_, s) => s).filter((s) => !taken.has(s));
    const bytes = this.position * this.config.d_model * 4;
    const heap = new Uint8Array(this.k.memory.buffer);
    for (const i of needCopy) {
      const source = slotOf[i];
      const target = free.pop()!;
      for (let l = 0; l < this.decoderLayers.length; l++) {
        heap.copyWithin(this.selfK[l][target], this.selfK[l][source], this.selfK[l][source] + bytes);
        heap.copyWithin(this.selfV[l][target], this.selfV[l][source], this.selfV[l][source] + bytes);
      }
      slotOf[i] = target;
    }
    this.slotOf = slotOf;
    this.rows = from.length;
  }

  /** Appends tokens[i] to row i and returns each row's next-token logits (V), copies. */
  step(tokens: ArrayLike<number>): Float32Array[] {
    const k = this.k;
    const c = this.config;
    const d = c.d_model;
    const NH = c.decoder_attention_heads;
    const B = tokens.length;
    const P = this.position;
    const V = c.vocab_size;
    if (B !== this.rows) throw new LowbitError("internal: one token per decoder row", { expected: String(this.rows), found: String(B) });
    if (P >= this.cacheRows) throw new LowbitError("decoder longer than its cache", { expected: `at most ${this.cacheRows} tokens`, found: String(P + 1) });
    checkTokenIds(tokens, V, "decoder token");
    const eps = c.layer_norm_epsilon;
    const x = this.h; // (B, d) residual stream of the new tokens
    this.embed(tokens, () => P, this.decPositions, this.decLnEmbedding, x);
    for (let l = 0; l < this.decoderLayers.length; l++) {
      const layer = this.decoderLayers[l];
      // Self-attention: each row's new key and value go to its slot at position P; it sees rows 0..P.
      const a = layer.self;
      this.linear(x, B, d, d, a.q, this.q);
      this.linear(x, B, d, d, a.k, this.kv);
      this.linear(x, B, d, d, a.v, this.kv + B * d * 4);
      const heap = new Float32Array(k.memory.buffer);
      for (let r = 0; r < B; r++) {
        const slot = this.slotOf[r];
        heap.copyWithin((this.selfK[l][slot] >> 2) + P * d, (this.kv >> 2) + r * d, (this.kv >> 2) + (r + 1) * d);
        heap.copyWithin((this.selfV[l][slot] >> 2) + P * d, (this.kv >> 2) + (B + r) * d, (this.kv >> 2) + (B + r + 1) * d);
        k.runner.run("attendHeads", [this.q + r * d * 4, d, 1, d, NH, this.selfK[l][slot], this.selfV[l][slot], P + 1, 0, this.ctx + r * d * 4, this.decScores]);
      }
      this.linear(this.ctx, B, d, d, a.out, this.proj);
      k.addInPlace(x, this.proj, B * d);
      k.layerNorm(x, B, d, a.ln[0], a.ln[1], eps, x);
      // Cross-attention: every row against the source's keys and values, computed once in encode().
      const e = layer.cross;
      this.linear(x, B, d, d, e.q, this.q);
      k.runner.run("attendHeads", [this.q, d, B, d, NH, this.crossK[l], this.crossV[l], this.sourceLength, 0, this.ctx, this.encScores]);
      this.linear(this.ctx, B, d, d, e.out, this.proj);
      k.addInPlace(x, this.proj, B * d);
      k.layerNorm(x, B, d, e.ln[0], e.ln[1], eps, x);
      this.feedForward(x, B, layer.ffn, c.decoder_ffn_dim);
    }
    this.position = P + 1;
    const out: Float32Array[] = [];
    for (let r = 0; r < B; r++) {
      this.products.headRow(x + r * d * 4, V, d, this.shared, this.logits);
      k.addInPlace(this.logits, this.finalLogitsBias, V);
      out.push(new Float32Array(k.memory.buffer, this.logits, V).slice());
    }
    return out;
  }
}

/** The encoder's and the decoder's stored shared.weight (codes and scales, or fp32) are the same bytes. */
function checkSameSharedWeight(encoder: LowbitModelFile, decoder: LowbitModelFile): void {
  const entry = (f: LowbitModelFile) => f.weights.find((w) => w.name === "shared.weight")!;
  const [a, b] = [entry(encoder), entry(decoder)];
  const same = (x: string | undefined, y: string | undefined): boolean => {
    if (x === undefined || y === undefined) return x === y;
    const [u, v] = [encoder.initializers.get(x)!.raw, decoder.initializers.get(y)!.raw];
    if (u.byteLength !== v.byteLength) return false;
    for (let i = 0; i < u.byteLength; i++) if (u[i] !== v[i]) return false;
    return true;
  };
  if (a.layout !== b.layout || a.bits !== b.bits || a.group_size !== b.group_size || !same(a.initializer, b.initializer) || !same(a.scale, b.scale)) {
    throw new LowbitError("the encoder and decoder files hold different shared.weight tensors (files from two exports?)", {
      file: decoder.file, tensor: "shared.weight", expected: `the same bytes as in ${encoder.file}`, found: "different ones",
    });
  }
}
