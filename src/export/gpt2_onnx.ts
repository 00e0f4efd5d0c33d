// GPT-2 → ONNX graph: the full decoder with a KV cache and Optimum's input/output names. The shared
// pieces (weights as INT2/INT4/INT8 + DequantizeLinear or MatMulNBits, per-token int8 activation
// quantization, linear, LayerNorm, GELU) live in onnx_graph.ts; this file is GPT-2's structure only.
//
// Dimension letters: B batch, T new tokens, P past tokens, S = P + T, C n_embd, NH heads, HS = C / NH,
// V vocab, F = n_inner (MLP width).

import { DataType, makeValueInfo } from "../format/onnx_proto.js";
import type { Gpt2Checkpoint } from "./checkpoint.js";
import { builtGraph, causalMask, dimOf, GraphBuilder, keyMask, Layers, WeightStore, type BuiltGraph, type GraphOptions } from "./onnx_graph.js";

export type { BuiltGraph, GraphOptions } from "./onnx_graph.js";
export { toMatMulNBits } from "./onnx_graph.js";

export function buildGpt2Graph(ckpt: Gpt2Checkpoint, options: GraphOptions): BuiltGraph {
  const { config } = ckpt;
  const C = config.n_embd;
  const NH = config.n_head;
  const HS = C / NH;
  const V = config.vocab_size;
  const g = new GraphBuilder();
  const store = new WeightStore(g, ckpt.tensors, options);
  const nn = new Layers(g, store);
  const eps = config.layer_norm_epsilon;

  // ─── inputs ───────────────────────────────────────────────────────────────────────────────────

  const INT64 = DataType.INT64;
  const FLOAT = DataType.FLOAT;
  const inputs = [
    makeValueInfo("input_ids", INT64, ["batch_size", "sequence_length"]),
    makeValueInfo("attention_mask", INT64, ["batch_size", "total_sequence_length"]),
    makeValueInfo("position_ids", INT64, ["batch_size", "sequence_length"]),
  ];
  const outputs = [makeValueInfo("logits", FLOAT, ["batch_size", "sequence_length", V])];
  for (let l = 0; l < config.n_layer; l++) {
    for (const kv of ["key", "value"]) {
      inputs.push(makeValueInfo(`past_key_values.${l}.${kv}`, FLOAT, ["batch_size", NH, "past_sequence_length", HS]));
      outputs.push(makeValueInfo(`present.${l}.${kv}`, FLOAT, ["batch_size", NH, "total_sequence_length", HS]));
    }
  }

  // ─── mask: query t (absolute position P + t) sees key s iff s <= P + t and attention_mask[b, s] = 1 ──

  const T = dimOf(g, "input_ids", 1); // scalar
  const P = dimOf(g, "past_key_values.0.key", 2); // scalar
  const causal = causalMask(g, P, T); // (T, S)
  const padding = keyMask(g, "attention_mask"); // (B, 1, 1, S)
  const allowed = g.one("And", [causal, padding]); // (B, 1, T, S)

  // ─── embeddings and blocks ────────────────────────────────────────────────────────────────────

  let x = g.one("Add", [
    g.one("Gather", [nn.weight("wte.weight"), "input_ids"], { axis: 0 }),
    g.one("Gather", [nn.weight("wpe.weight"), "position_ids"], { axis: 0 }),
  ]); // (B, T, C)

  const splitHeads = (t: string): string => nn.splitHeads(t, NH, HS); // (B, NH, T, HS)

  for (let l = 0; l < config.n_layer; l++) {
    const p = `h.${l}`;
    const qkv = nn.linear(nn.layerNorm(x, `${p}.ln_1`, eps), `${p}.attn.c_attn`); // (B, T, 3C)
    const [q, k, v] = g.op("Split", [qkv, g.i64([C, C, C])], { axis: 2 }, 3);
    const keys = g.named(`present.${l}.key`, "Concat", [`past_key_values.${l}.key`, splitHeads(k)], { axis: 2 }); // (B, NH, S, HS)
    const values = g.named(`present.${l}.value`, "Concat", [`past_key_values.${l}.value`, splitHeads(v)], { axis: 2 });
    const context = nn.attend(splitHeads(q), keys, values, allowed, HS, C); // (B, T, C)
    x = g.one("Add", [x, nn.linear(context, `${p}.attn.c_proj`)]);
    const hidden = nn.geluTanh(nn.linear(nn.layerNorm(x, `${p}.ln_2`, eps), `${p}.mlp.c_fc`)); // (B, T, F)
    x = g.one("Add", [x, nn.linear(hidden, `${p}.mlp.c_proj`)]);
  }

  // ─── head: logits = ln_f(x) @ Wᵀ, W = wte (tied) or lm_head, both (V, C) ───────────────────────

  nn.logits(nn.layerNorm(x, "ln_f", eps), config.tie_word_embeddings ? "wte.weight" : "lm_head.weight", undefined, C, V);

  return builtGraph("lowbit-gpt2", g, store, inputs, outputs);
}
