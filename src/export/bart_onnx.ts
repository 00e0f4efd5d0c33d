// BART → two ONNX graphs, as Optimum exports BartForConditionalGeneration for transformers.js: the encoder,
// and the merged decoder (one graph for the first step and the cached ones, switched by `use_cache_branch`).
// Post-LayerNorm layers as HF's modeling_bart.py; the shared pieces (weights as INT2/INT4/INT8 +
// DequantizeLinear or MatMulNBits, per-token int8 activation quantization, linear, LayerNorm, GELUs) are
// onnx_graph.ts's. This file is BART's structure only.
//
// Dimension letters: B batch, S encoder tokens, T new decoder tokens, P past decoder tokens, D = P + T,
// d d_model, NH heads, HS = d / NH, V vocab, F FFN width. Linear weights are (K, N) (CONTRACT.md).

import { BART_POSITION_OFFSET, type BartConfig } from "../format/bart_config.js";
import { DataType, makeValueInfo } from "../format/onnx_proto.js";
import type { CheckpointTensor } from "./checkpoint.js";
import { builtGraph, causalMask, dimOf, GraphBuilder, keyMask, Layers, WeightStore, type BuiltGraph, type GraphOptions } from "./onnx_graph.js";

/** What the graphs read of a BART checkpoint (BartCheckpoint has more). */
export interface BartGraphInput {
  config: BartConfig;
  tensors: Map<string, CheckpointTensor>;
}

const INT64 = DataType.INT64;
const FLOAT = DataType.FLOAT;

/** Ops of one BART side (encoder or decoder), over one file's weights. */
class BartLayers {
  readonly HS: number;

  constructor(readonly nn: Layers, readonly c: BartConfig, readonly NH: number) {
    this.HS = c.d_model / NH;
  }

  get g(): GraphBuilder {
    return this.nn.g;
  }

  /** (B, n, d) → (B, NH, n, HS). */
  splitHeads(t: string): string {
    return this.nn.splitHeads(t, this.NH, this.HS);
  }

  /**
   * shared[ids] · embed_scale + positions[p + 2], then layernorm_embedding. `first` is the position of the
   * first token (a scalar int64 value), `count` the number of tokens (scalar).
   */
  embed(side: "encoder" | "decoder", ids: string, first: string, count: string): string {
    const { g, nn, c } = this;
    let tokens = g.one("Gather", [nn.weight("shared.weight"), ids], { axis: 0 }); // (B, n, d)
    // An f32 multiply of the f32 row (HF's BartScaledWordEmbedding); skipped at scale 1, where it is exact anyway.
    if (c.scale_embedding) tokens = g.one("Mul", [tokens, g.f32(Math.sqrt(c.d_model))]);
    const from = g.one("Add", [first, g.i64([BART_POSITION_OFFSET], [])]);
    const rows = g.one("Range", [from, g.one("Add", [from, count]), g.i64([1], [])]); // (n)
    const positions = g.one("Gather", [nn.weight(`${side}.embed_positions.weight`), rows], { axis: 0 }); // (n, d)
    return nn.layerNorm(g.one("Add", [tokens, positions]), `${side}.layernorm_embedding`, c.layer_norm_epsilon);
  }

  /** softmax(q·kᵀ / √HS where allowed) · v, heads merged back: (B, NH, n, HS) ×2 + (B, NH, m, HS) → (B, n, d). */
  attend(q: string, keys: string, values: string, allowed: string): string {
    return this.nn.attend(q, keys, values, allowed, this.HS, this.c.d_model);
  }

  /** x = LN(x + sublayer), BART's post-LayerNorm residual. */
  residual(x: string, out: string, norm: string): string {
    return this.nn.layerNorm(this.g.one("Add", [x, out]), norm, this.c.layer_norm_epsilon);
  }

  /** fc2(act(fc1(x))). */
  ffn(x: string, p: string): string {
    const h = this.nn.linear(x, `${p}.fc1`);
    return this.nn.linear(this.c.activation_function === "gelu" ? this.nn.geluErf(h) : this.nn.geluTanh(h), `${p}.fc2`);
  }
}

// ─── encoder: input_ids, attention_mask → last_hidden_state ────────────────────────────────────────

export function buildBartEncoderGraph(ckpt: BartGraphInput, options: GraphOptions): BuiltGraph {
  const c = ckpt.config;
  const g = new GraphBuilder();
  const store = new WeightStore(g, ckpt.tensors, options);
  const m = new BartLayers(new Layers(g, store), c, c.encoder_attention_heads);
  const { nn } = m;
  const inputs = [
    makeValueInfo("input_ids", INT64, ["batch_size", "encoder_sequence_length"]),
    makeValueInfo("attention_mask", INT64, ["batch_size", "encoder_sequence_length"]),
  ];
  const outputs = [makeValueInfo("last_hidden_state", FLOAT, ["batch_size", "encoder_sequence_length", c.d_model])];

  // Padding only: every token sees every unpadded token.
  const allowed = keyMask(g, "attention_mask"); // (B, 1, 1, S)
  let x = m.embed("encoder", "input_ids", g.i64([0], []), dimOf(g, "input_ids", 1)); // (B, S, d)
  for (let l = 0; l < c.encoder_layers; l++) {
    const p = `encoder.layers.${l}`;
    const q = m.splitHeads(nn.linear(x, `${p}.self_attn.q_proj`));
    const k = m.splitHeads(nn.linear(x, `${p}.self_attn.k_proj`));
    const v = m.splitHeads(nn.linear(x, `${p}.self_attn.v_proj`));
    x = m.residual(x, nn.linear(m.attend(q, k, v, allowed), `${p}.self_attn.out_proj`), `${p}.self_attn_layer_norm`);
    x = m.residual(x, m.ffn(x, p), `${p}.final_layer_norm`);
  }
  g.named("last_hidden_state", "Identity", [x]);
  return builtGraph("lowbit-bart-encoder", g, store, inputs, outputs);
}

// ─── merged decoder ─────────────────────────────────────────────────────────────────────────────
//
// Inputs and outputs are Optimum's (CONTRACT.md "Files"). Cross-attention K/V depend only on the encoder
// output, so they are computed once: on the first step (use_cache_branch false) from encoder_hidden_states
// with encoder_attn.k_proj/v_proj, on later steps taken from past_key_values.{i}.encoder.* as they are.
// Two `If`s on use_cache_branch do it: the first picks the rows to project (all of encoder_hidden_states,
// or none), the second the K/V to use (the projections, or the past ones). The projections themselves sit
// in the main graph, not in a branch, on purpose: onnxruntime's optimizer fuses DequantizeLinear → MatMul
// into MatMulNBits only where the weight's initializer is in the same graph as the nodes, and refuses to
// load the file when it is not (1.30: "TransposeDQWeightsForMatMulNBits Missing required weight"), which
// is what transformers.js's default session options run into. Projecting zero rows costs nothing.
// Self-attention appends the new K/V to the past ones (P = 0 on the first step) under a causal mask;
// positions start at P (plus BART's offset 2).

export function buildBartDecoderGraph(ckpt: BartGraphInput, options: GraphOptions): BuiltGraph {
  const c = ckpt.config;
  const V = c.vocab_size;
  const L = c.decoder_layers;
  const g = new GraphBuilder();
  const store = new WeightStore(g, ckpt.tensors, options);
  const m = new BartLayers(new Layers(g, store), c, c.decoder_attention_heads);
  const { nn, NH, HS } = m;

  const inputs = [
    makeValueInfo("encoder_attention_mask", INT64, ["batch_size", "encoder_sequence_length"]),
    makeValueInfo("input_ids", INT64, ["batch_size", "decoder_sequence_length"]),
    makeValueInfo("encoder_hidden_states", FLOAT, ["batch_size", "encoder_sequence_length", c.d_model]),
  ];
  const outputs = [makeValueInfo("logits", FLOAT, ["batch_size", "decoder_sequence_length", V])];
  for (let l = 0; l < L; l++) {
    for (const kv of ["key", "value"]) {
      inputs.push(makeValueInfo(`past_key_values.${l}.decoder.${kv}`, FLOAT, ["batch_size", NH, "past_decoder_sequence_length", HS]));
    }
    for (const kv of ["key", "value"]) {
      inputs.push(makeValueInfo(`past_key_values.${l}.encoder.${kv}`, FLOAT, ["batch_size", NH, "encoder_sequence_length_out", HS]));
    }
    for (const kv of ["key", "value"]) {
      outputs.push(makeValueInfo(`present.${l}.decoder.${kv}`, FLOAT, ["batch_size", NH, "past_decoder_sequence_length + 1", HS]));
    }
    for (const kv of ["key", "value"]) {
      outputs.push(makeValueInfo(`present.${l}.encoder.${kv}`, FLOAT, ["batch_size", NH, "encoder_sequence_length_out", HS]));
    }
  }
  inputs.push(makeValueInfo("use_cache_branch", DataType.BOOL, [1]));

  // ─── masks: query t (position P + t) sees decoder key s iff s <= P + t; encoder key j iff mask[b, j] ──

  const T = dimOf(g, "input_ids", 1);
  const P = dimOf(g, "past_key_values.0.decoder.key", 2);
  const causal = causalMask(g, P, T); // (T, D)
  const crossAllowed = keyMask(g, "encoder_attention_mask"); // (B, 1, 1, S)

  // ─── cross-attention K/V: projected on the first step, passed through after ───────────────────

  const [crossInput] = g.ifNode(
    "use_cache_branch",
    ["encoder_rows_to_project"],
    (sub) => [sub.one("Slice", ["encoder_hidden_states", sub.i64([0]), sub.i64([0]), sub.i64([1])])], // (B, 0, d)
    () => ["encoder_hidden_states"], // (B, S, d)
  );
  const projected = Array.from({ length: L }, (_, l) => [
    m.splitHeads(nn.linear(crossInput, `decoder.layers.${l}.encoder_attn.k_proj`)), // (B, NH, S or 0, HS)
    m.splitHeads(nn.linear(crossInput, `decoder.layers.${l}.encoder_attn.v_proj`)),
  ]).flat();
  g.ifNode(
    "use_cache_branch",
    Array.from({ length: L }, (_, l) => [`present.${l}.encoder.key`, `present.${l}.encoder.value`]).flat(),
    () => Array.from({ length: L }, (_, l) => [`past_key_values.${l}.encoder.key`, `past_key_values.${l}.encoder.value`]).flat(),
    () => projected,
  );

  // ─── layers ───────────────────────────────────────────────────────────────────────────────────

  let x = m.embed("decoder", "input_ids", P, T); // (B, T, d)
  for (let l = 0; l < L; l++) {
    const p = `decoder.layers.${l}`;
    const q = m.splitHeads(nn.linear(x, `${p}.self_attn.q_proj`));
    const keys = g.named(`present.${l}.decoder.key`, "Concat", [`past_key_values.${l}.decoder.key`, m.splitHeads(nn.linear(x, `${p}.self_attn.k_proj`))], { axis: 2 }); // (B, NH, D, HS)
    const values = g.named(`present.${l}.decoder.value`, "Concat", [`past_key_values.${l}.decoder.value`, m.splitHeads(nn.linear(x, `${p}.self_attn.v_proj`))], { axis: 2 });
    x = m.residual(x, nn.linear(m.attend(q, keys, values, causal), `${p}.self_attn.out_proj`), `${p}.self_attn_layer_norm`);

    const cq = m.splitHeads(nn.linear(x, `${p}.encoder_attn.q_proj`));
    const cross = m.attend(cq, `present.${l}.encoder.key`, `present.${l}.encoder.value`, crossAllowed);
    x = m.residual(x, nn.linear(cross, `${p}.encoder_attn.out_proj`), `${p}.encoder_attn_layer_norm`);
    x = m.residual(x, m.ffn(x, p), `${p}.final_layer_norm`);
  }

  // ─── head: logits = x · sharedᵀ + final_logits_bias (Gemm reads the (V, d) matrix in place) ────────

  nn.logits(x, "shared.weight", "final_logits_bias", c.d_model, V);

  return builtGraph("lowbit-bart-decoder", g, store, inputs, outputs);
}
