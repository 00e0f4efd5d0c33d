// GPT-2 → ONNX graph: the full decoder with a KV cache and Optimum's input/output names. The shared
// pieces (weights as INT2/INT4/INT8 + DequantizeLinear or MatMulNBits, per-token int8 activation
// quantization, linear, LayerNorm, GELU) live in onnx_graph.ts; this file is GPT-2's structure only.
//
// Dimension letters: B batch, T new tokens, P past tokens, S = P + T, C n_embd, NH heads, HS = C / NH,
// V vocab, F = n_inner (MLP width).

import { DataType, makeValueInfo } from "../format/onnx_proto.js";
import type { Gpt2Checkpoint } from "./checkpoint.js";
import { F32_LOWEST, GraphBuilder, Layers, WeightStore, type BuiltGraph, type GraphOptions } from "./onnx_graph.js";

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

  const T = g.one("Gather", [g.one("Shape", ["input_ids"]), g.i64([1], [])], { axis: 0 }); // scalar
  const P = g.one("Gather", [g.one("Shape", ["past_key_values.0.key"]), g.i64([2], [])], { axis: 0 }); // scalar
  const S = g.one("Add", [P, T]);
  const keyPos = g.one("Unsqueeze", [g.one("Range", [g.i64([0], []), S, g.i64([1], [])]), g.i64([0])]); // (1, S)
  const queryPos = g.one("Unsqueeze", [g.one("Range", [P, S, g.i64([1], [])]), g.i64([1])]); // (T, 1)
  const causal = g.one("LessOrEqual", [keyPos, queryPos]); // (T, S)
  const padding = g.one("Cast", [g.one("Unsqueeze", ["attention_mask", g.i64([1, 2])])], { to: DataType.BOOL }); // (B, 1, 1, S)
  const allowed = g.one("And", [causal, padding]); // (B, 1, T, S)

  // ─── embeddings and blocks ────────────────────────────────────────────────────────────────────

  let x = g.one("Add", [
    g.one("Gather", [nn.weight("wte.weight"), "input_ids"], { axis: 0 }),
    g.one("Gather", [nn.weight("wpe.weight"), "position_ids"], { axis: 0 }),
  ]); // (B, T, C)

  const splitHeads = (t: string): string => g.one("Transpose", [g.one("Reshape", [t, g.i64([0, 0, NH, HS])])], { perm: [0, 2, 1, 3] }); // (B, NH, T, HS)

  for (let l = 0; l < config.n_layer; l++) {
    const p = `h.${l}`;
    const qkv = nn.linear(nn.layerNorm(x, `${p}.ln_1`, eps), `${p}.attn.c_attn`); // (B, T, 3C)
    const [q, k, v] = g.op("Split", [qkv, g.i64([C, C, C])], { axis: 2 }, 3);
    const keys = g.named(`present.${l}.key`, "Concat", [`past_key_values.${l}.key`, splitHeads(k)], { axis: 2 }); // (B, NH, S, HS)
    const values = g.named(`present.${l}.value`, "Concat", [`past_key_values.${l}.value`, splitHeads(v)], { axis: 2 });
    const scores = g.one("Div", [g.one("MatMul", [splitHeads(q), g.one("Transpose", [keys], { perm: [0, 1, 3, 2] })]), g.f32(Math.sqrt(HS))]); // (B, NH, T, S)
    const probs = g.one("Softmax", [g.one("Where", [allowed, scores, g.f32(F32_LOWEST)])], { axis: -1 });
    const context = g.one("Reshape", [g.one("Transpose", [g.one("MatMul", [probs, values])], { perm: [0, 2, 1, 3] }), g.i64([0, 0, C])]); // (B, T, C)
    x = g.one("Add", [x, nn.linear(context, `${p}.attn.c_proj`)]);
    const hidden = nn.geluTanh(nn.linear(nn.layerNorm(x, `${p}.ln_2`, eps), `${p}.mlp.c_fc`)); // (B, T, F)
    x = g.one("Add", [x, nn.linear(hidden, `${p}.mlp.c_proj`)]);
  }

  // ─── head: logits = ln_f(x) @ Wᵀ, W = wte (tied) or lm_head, both (V, C) ───────────────────────

  const headName = config.tie_word_embeddings ? "wte.weight" : "lm_head.weight";
  let final = nn.layerNorm(x, "ln_f", eps);
  if (nn.quantizesInput(headName)) final = nn.quantizeActivation(final);
  // Gemm with transB reads W in place; MatMul would need a Transpose of the (V, C) matrix every run.
  const rows = g.one("Reshape", [final, g.i64([-1, C])]); // (B·T, C)
  const logits2d = g.one("Gemm", [rows, nn.weight(headName)], { transB: 1 }); // (B·T, V)
  const logitsShape = g.one("Concat", [g.one("Slice", [g.one("Shape", [final]), g.i64([0]), g.i64([2])]), g.i64([V])], { axis: 0 });
  g.named("logits", "Reshape", [logits2d, logitsShape]);

  return {
    graph: { name: "lowbit-gpt2", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
    weights: store.weights, opset: store.opset, usesMicrosoftDomain: store.usesMicrosoftDomain, storedBytes: store.storedBytes,
  };
}
