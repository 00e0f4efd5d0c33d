// GPT-2 → ONNX graph: the full decoder with a KV cache, Optimum's input/output names, quantized weights
// as INT2/INT4/INT8 initializers feeding DequantizeLinear (or com.microsoft::MatMulNBits), and per-token
// int8 activation quantization written with standard ops so any ONNX runtime computes what ours does.
//
// Dimension letters: B batch, T new tokens, P past tokens, S = P + T, C n_embd, NH heads, HS = C / NH,
// V vocab, F = n_inner (MLP width).

import { QUANT_FORMATS, packCodes, type WeightBits } from "../format/quant_formats.js";
import { bytesOf, DataType, makeAttribute, makeTensor, makeValueInfo, type AttrValue, type GraphProto, type NodeProto, type TensorProto } from "../format/onnx_proto.js";
import type { WeightEntry } from "../format/lowbit_onnx.js";
import type { WeightFormat } from "../format/quantization.js";
import { ACTIVATION_ABSMAX_FLOOR, scaleIndex } from "../format/quantizer.js";
import type { CheckpointTensor, Gpt2Checkpoint, QuantTensor } from "./checkpoint.js";

export interface GraphOptions {
  format: WeightFormat;
  activationBits: 8 | 32;
}

export interface BuiltGraph {
  graph: GraphProto;
  weights: WeightEntry[];
  /** ai.onnx opset the graph needs. */
  opset: number;
  usesMicrosoftDomain: boolean;
  /** Bytes of each weight's stored tensors (codes + scales, or fp32 data), by checkpoint name. */
  storedBytes: Map<string, number>;
}

const F32_LOWEST = -3.4028234663852886e38;

/** Collects nodes and initializers; names every intermediate value uniquely. */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private counter = 0;
  private readonly constants = new Map<string, string>();

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, domain = ""): string[] {
    const id = this.counter++;
    const outs = Array.from({ length: outputs }, (_, i) => `${opType.toLowerCase()}_${id}${outputs > 1 ? `_${i}` : ""}`);
    this.nodes.push({
      name: `${opType}_${id}`, opType, domain, input: inputs, output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)),
    });
    return outs;
  }

  /** A node whose single output gets a fixed name (graph outputs such as `logits`). */
  named(output: string, opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    this.nodes.push({ name: `${opType}_${output}`, opType, input: inputs, output: [output], attribute: Object.entries(attrs).map(([k, v]) => makeAttribute(k, v)) });
    return output;
  }

  one(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}): string {
    return this.op(opType, inputs, attrs)[0];
  }

  initializer(t: TensorProto): string {
    this.initializers.push(t);
    return t.name!;
  }

  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = `const_i64_${this.constants.size}`;
      this.initializer(makeTensor(name, DataType.INT64, dims, bytesOf(BigInt64Array.from(values.map(BigInt)))));
      this.constants.set(key, name);
    }
    return name;
  }

  f32(value: number): string {
    const key = `f32:${value}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = `const_f32_${this.constants.size}`;
      this.initializer(makeTensor(name, DataType.FLOAT, [], bytesOf(Float32Array.of(value))));
      this.constants.set(key, name);
    }
    return name;
  }
}

export function buildGpt2Graph(ckpt: Gpt2Checkpoint, options: GraphOptions): BuiltGraph {
  const { config } = ckpt;
  const C = config.n_embd;
  const NH = config.n_head;
  const HS = C / NH;
  const V = config.vocab_size;
  const g = new GraphBuilder();
  const weights: WeightEntry[] = [];
  const storedBytes = new Map<string, number>();
  let opset = 18;
  let usesMicrosoftDomain = false;

  // ─── weights ──────────────────────────────────────────────────────────────────────────────────

  const tensor = (name: string): CheckpointTensor => {
    const t = ckpt.tensors.get(name);
    if (t === undefined) throw new Error(`internal: checkpoint has no ${name}`);
    return t;
  };

  const floatValues = new Map<string, string>();
  /** The fp32 value of a weight: the initializer itself, or the output of its DequantizeLinear. */
  const weightValue = (name: string): string => {
    const cached = floatValues.get(name);
    if (cached !== undefined) return cached;
    const t = tensor(name);
    let value: string;
    if (t.kind === "float") {
      value = g.initializer(makeTensor(name, DataType.FLOAT, t.shape, bytesOf(t.data)));
      weights.push({ name, shape: t.shape, layout: "float", initializer: name });
      storedBytes.set(name, t.data.byteLength);
    } else {
      const fmt = QUANT_FORMATS[t.bits];
      opset = Math.max(opset, fmt.minOpset);
      const codes = g.initializer(makeTensor(`${name}.qweight`, fmt.onnxDataType, t.shape, packCodes(t.codes, t.bits)));
      const scale = g.initializer(makeTensor(`${name}.scale`, DataType.FLOAT, t.scaleShape, bytesOf(t.scale)));
      const attrs: Record<string, AttrValue> = t.groupSize > 0 ? { axis: t.inputAxis, block_size: t.groupSize } : {};
      value = g.one("DequantizeLinear", [codes, scale], attrs);
      weights.push({
        name, shape: t.shape, layout: "dq", initializer: codes, scale, bits: t.bits, input_axis: t.inputAxis,
        group_size: t.groupSize, scale_shape: t.scaleShape,
      });
      storedBytes.set(name, Math.ceil((t.codes.length * t.bits) / 8) + t.scale.byteLength);
    }
    floatValues.set(name, value);
    return value;
  };

  /** Per-token int8 fake quantization (DESIGN.md): x ← clamp(round(x / s), ±127) · s, s = max|x| / 127. */
  const quantizeActivation = (x: string): string => {
    const absMax = g.one("ReduceMax", [g.one("Abs", [x]), g.i64([-1])], { keepdims: 1 });
    const s = g.one("Div", [g.one("Max", [absMax, g.f32(ACTIVATION_ABSMAX_FLOOR)]), g.f32(127)]);
    const codes = g.one("Clip", [g.one("Round", [g.one("Div", [x, s])]), g.f32(-127), g.f32(127)]);
    return g.one("Mul", [codes, s]);
  };

  const quantizeInputOf = (name: string): boolean => tensor(name).kind === "quant" && options.activationBits === 8;

  /** x (…, K) @ W (K, N) + b (N). */
  const linear = (x: string, module: string): string => {
    const wName = `${module}.weight`;
    const bias = weightValue(`${module}.bias`);
    const input = quantizeInputOf(wName) ? quantizeActivation(x) : x;
    const w = tensor(wName);
    if (options.format === "nbits" && w.kind === "quant") {
      usesMicrosoftDomain = true;
      const nb = toMatMulNBits(w);
      const b = g.initializer(makeTensor(`${wName}.qweight`, DataType.UINT8, nb.dims, nb.packed));
      const s = g.initializer(makeTensor(`${wName}.scale`, DataType.FLOAT, [nb.scales.length], bytesOf(nb.scales)));
      weights.push({
        name: wName, shape: w.shape, layout: "nbits", initializer: b, scale: s, bits: w.bits, input_axis: 0,
        group_size: w.groupSize, scale_shape: [nb.scales.length], block_size: nb.blockSize,
      });
      storedBytes.set(wName, nb.packed.byteLength + nb.scales.byteLength);
      const [K, N] = w.shape;
      return g.op("MatMulNBits", [input, b, s, "", "", bias], { K, N, bits: w.bits, block_size: nb.blockSize, accuracy_level: 0 }, 1, "com.microsoft")[0];
    }
    return g.one("Add", [g.one("MatMul", [input, weightValue(wName)]), bias]);
  };

  const layerNorm = (x: string, module: string): string =>
    g.one("LayerNormalization", [x, weightValue(`${module}.weight`), weightValue(`${module}.bias`)], { axis: -1, epsilon: { float: config.layer_norm_epsilon } });

  /** GPT-2's tanh GELU: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
  const gelu = (x: string): string => {
    const cube = g.one("Mul", [g.one("Mul", [x, x]), x]);
    const inner = g.one("Mul", [g.one("Add", [x, g.one("Mul", [cube, g.f32(0.044715)])]), g.f32(Math.sqrt(2 / Math.PI))]);
    return g.one("Mul", [g.one("Mul", [x, g.f32(0.5)]), g.one("Add", [g.one("Tanh", [inner]), g.f32(1)])]);
  };

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
    g.one("Gather", [weightValue("wte.weight"), "input_ids"], { axis: 0 }),
    g.one("Gather", [weightValue("wpe.weight"), "position_ids"], { axis: 0 }),
  ]); // (B, T, C)

  const splitHeads = (t: string): string => g.one("Transpose", [g.one("Reshape", [t, g.i64([0, 0, NH, HS])])], { perm: [0, 2, 1, 3] }); // (B, NH, T, HS)

  for (let l = 0; l < config.n_layer; l++) {
    const p = `h.${l}`;
    const qkv = linear(layerNorm(x, `${p}.ln_1`), `${p}.attn.c_attn`); // (B, T, 3C)
    const [q, k, v] = g.op("Split", [qkv, g.i64([C, C, C])], { axis: 2 }, 3);
    const keys = g.named(`present.${l}.key`, "Concat", [`past_key_values.${l}.key`, splitHeads(k)], { axis: 2 }); // (B, NH, S, HS)
    const values = g.named(`present.${l}.value`, "Concat", [`past_key_values.${l}.value`, splitHeads(v)], { axis: 2 });
    const scores = g.one("Div", [g.one("MatMul", [splitHeads(q), g.one("Transpose", [keys], { perm: [0, 1, 3, 2] })]), g.f32(Math.sqrt(HS))]); // (B, NH, T, S)
    const probs = g.one("Softmax", [g.one("Where", [allowed, scores, g.f32(F32_LOWEST)])], { axis: -1 });
    const context = g.one("Reshape", [g.one("Transpose", [g.one("MatMul", [probs, values])], { perm: [0, 2, 1, 3] }), g.i64([0, 0, C])]); // (B, T, C)
    x = g.one("Add", [x, linear(context, `${p}.attn.c_proj`)]);
    const hidden = gelu(linear(layerNorm(x, `${p}.ln_2`), `${p}.mlp.c_fc`)); // (B, T, F)
    x = g.one("Add", [x, linear(hidden, `${p}.mlp.c_proj`)]);
  }

  // ─── head: logits = ln_f(x) @ Wᵀ, W = wte (tied) or lm_head, both (V, C) ───────────────────────

  const headName = config.tie_word_embeddings ? "wte.weight" : "lm_head.weight";
  let final = layerNorm(x, "ln_f");
  if (quantizeInputOf(headName)) final = quantizeActivation(final);
  // Gemm with transB reads W in place; MatMul would need a Transpose of the (V, C) matrix every run.
  const rows = g.one("Reshape", [final, g.i64([-1, C])]); // (B·T, C)
  const logits2d = g.one("Gemm", [rows, weightValue(headName)], { transB: 1 }); // (B·T, V)
  const logitsShape = g.one("Concat", [g.one("Slice", [g.one("Shape", [final]), g.i64([0]), g.i64([2])]), g.i64([V])], { axis: 0 });
  g.named("logits", "Reshape", [logits2d, logitsShape]);

  return {
    graph: { name: "lowbit-gpt2", node: g.nodes, initializer: g.initializers, input: inputs, output: outputs },
    weights, opset, usesMicrosoftDomain, storedBytes,
  };
}

// ─── MatMulNBits layout ─────────────────────────────────────────────────────────────────────────

/** Our (K, N) codes → MatMulNBits' (N, K / bs, bs · bits / 8) unsigned codes (code + 2^(bits−1)) and scales. */
export function toMatMulNBits(w: QuantTensor): { dims: number[]; packed: Uint8Array; scales: Float32Array; blockSize: number } {
  const [K, N] = w.shape;
  const blockSize = w.groupSize > 0 ? w.groupSize : [128, 64, 32, 16].find((b) => K % b === 0) ?? 16;
  const blocks = Math.ceil(K / blockSize);
  const blobBytes = (blockSize * w.bits) / 8;
  const zeroPoint = 1 << (w.bits - 1);
  const perByte = 8 / w.bits;
  const packed = new Uint8Array(N * blocks * blobBytes);
  const scales = new Float32Array(N * blocks);
  for (let n = 0; n < N; n++) {
    for (let b = 0; b < blocks; b++) {
      scales[n * blocks + b] = w.scale[scaleIndex(w, b * blockSize, n)];
      const base = (n * blocks + b) * blobBytes;
      for (let j = 0; j < blockSize; j++) {
        const kk = b * blockSize + j;
        const u = (kk < K ? w.codes[kk * N + n] : 0) + zeroPoint;
        packed[base + Math.floor(j / perByte)] |= u << ((j % perByte) * w.bits);
      }
    }
  }
  return { dims: [N, blocks, blobBytes], packed, scales, blockSize };
}
