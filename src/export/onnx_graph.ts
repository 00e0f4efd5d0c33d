// The pieces every lowbit ONNX writer shares (gpt2_onnx.ts, bart_onnx.ts): a graph builder that names
// values uniquely (subgraphs included), weights as fp32 initializers or INT2/INT4/INT8 codes feeding
// DequantizeLinear (or com.microsoft::MatMulNBits) with their manifest entries, the per-token int8
// activation fake-quantization written with standard ops, and the layers built from them (linear,
// LayerNorm, the two GELUs). Not a model: each family's file puts these together in its own order.
//
// Dimension letters: K input features, N output features of a linear layer (weights are (K, N)).

import { QUANT_FORMATS, packCodes } from "../format/quant_formats.js";
import { bytesOf, DataType, makeAttribute, makeTensor, onnx, type AttrValue, type GraphProto, type makeValueInfo, type NodeProto, type TensorProto } from "../format/onnx_proto.js";
import type { WeightEntry } from "../format/lowbit_onnx.js";
import type { WeightFormat } from "../format/quantization.js";
import { ACTIVATION_ABSMAX_FLOOR, scaleIndex } from "../format/quantizer.js";
import type { CheckpointTensor, QuantTensor } from "./checkpoint.js";

type ValueInfo = ReturnType<typeof makeValueInfo>;

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

/** Where attention is masked, scores become this before Softmax (exp underflows to exactly 0). */
export const F32_LOWEST = -3.4028234663852886e38;

// ─── graph builder ──────────────────────────────────────────────────────────────────────────────

interface BuilderState {
  counter: number;
  constants: Map<string, string>;
}

/**
 * Collects nodes and initializers; names every intermediate value uniquely. A subgraph (the branches of
 * an `If`) has its own nodes but shares the counter, the constants and the initializers of the outermost
 * graph, whose values a subgraph may read: names stay unique across the whole model, as ONNX requires.
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[];
  private readonly state: BuilderState;

  constructor(parent?: GraphBuilder) {
    this.initializers = parent?.initializers ?? [];
    this.state = parent?.state ?? { counter: 0, constants: new Map() };
  }

  /** A builder for a subgraph of this graph (see the class comment). */
  subgraph(): GraphBuilder {
    return new GraphBuilder(this);
  }

  op(opType: string, inputs: string[], attrs: Record<string, AttrValue> = {}, outputs = 1, domain = ""): string[] {
    const id = this.state.counter++;
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

  /**
   * An `If` on the bool scalar-like `cond` whose outputs get fixed names. Each branch builds its outputs
   * (one value per name, in order) in a subgraph of its own.
   */
  ifNode(cond: string, outputs: string[], thenBranch: (g: GraphBuilder) => string[], elseBranch: (g: GraphBuilder) => string[]): string[] {
    const branch = (name: string, build: (g: GraphBuilder) => string[]): GraphProto => {
      const sub = this.subgraph();
      const values = build(sub);
      if (values.length !== outputs.length) throw new Error(`internal: ${name} branch gives ${values.length} outputs, not ${outputs.length}`);
      // A branch output must be produced inside the branch: an outer value goes through an Identity.
      const outs = values.map((v) => (sub.nodes.some((n) => n.output?.includes(v)) ? v : sub.one("Identity", [v])));
      // Element type only: the shapes are symbolic and differ between the branches (0 vs enc_seq rows).
      return { name, node: sub.nodes, output: outs.map((o) => ({ name: o, type: { tensorType: { elemType: DataType.FLOAT } } })) };
    };
    const id = this.state.counter++;
    const A = onnx.AttributeProto.AttributeType;
    this.nodes.push({
      name: `If_${id}`, opType: "If", domain: "", input: [cond], output: outputs,
      attribute: [
        { name: "then_branch", type: A.GRAPH, g: branch(`then_${id}`, thenBranch) },
        { name: "else_branch", type: A.GRAPH, g: branch(`else_${id}`, elseBranch) },
      ],
    });
    return outputs;
  }

  initializer(t: TensorProto): string {
    this.initializers.push(t);
    return t.name!;
  }

  i64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims.join("x")}:${values.join(",")}`;
    let name = this.state.constants.get(key);
    if (name === undefined) {
      name = `const_i64_${this.state.constants.size}`;
      this.initializer(makeTensor(name, DataType.INT64, dims, bytesOf(BigInt64Array.from(values.map(BigInt)))));
      this.state.constants.set(key, name);
    }
    return name;
  }

  f32(value: number): string {
    const key = `f32:${value}`;
    let name = this.state.constants.get(key);
    if (name === undefined) {
      name = `const_f32_${this.state.constants.size}`;
      this.initializer(makeTensor(name, DataType.FLOAT, [], bytesOf(Float32Array.of(value))));
      this.state.constants.set(key, name);
    }
    return name;
  }
}

// ─── weights ────────────────────────────────────────────────────────────────────────────────────

type StoredWeight =
  | { layout: "float"; initializer: string }
  | { layout: "dq"; codes: string; scale: string; attrs: Record<string, AttrValue> }
  | { layout: "nbits"; codes: string; scale: string; K: number; N: number; bits: number; blockSize: number };

/**
 * The weights of one ONNX file: each stored once, as initializers of the outermost graph, with its
 * manifest entry (lowbit.weights) and its stored bytes; the opset and domains the stored types need.
 */
export class WeightStore {
  readonly weights: WeightEntry[] = [];
  readonly storedBytes = new Map<string, number>();
  opset = 18;
  usesMicrosoftDomain = false;
  private readonly stored = new Map<string, StoredWeight>();

  constructor(private readonly root: GraphBuilder, private readonly tensors: Map<string, CheckpointTensor>, readonly options: GraphOptions) {}

  tensor(name: string): CheckpointTensor {
    const t = this.tensors.get(name);
    if (t === undefined) throw new Error(`internal: checkpoint has no ${name}`);
    return t;
  }

  /** fp32 initializer, or INT codes + fp32 steps for DequantizeLinear. */
  store(name: string): StoredWeight {
    const cached = this.stored.get(name);
    if (cached !== undefined) return cached;
    const g = this.root;
    const t = this.tensor(name);
    let s: StoredWeight;
    if (t.kind === "float") {
      s = { layout: "float", initializer: g.initializer(makeTensor(name, DataType.FLOAT, t.shape, bytesOf(t.data))) };
      this.weights.push({ name, shape: t.shape, layout: "float", initializer: name });
      this.storedBytes.set(name, t.data.byteLength);
    } else {
      const fmt = QUANT_FORMATS[t.bits];
      this.opset = Math.max(this.opset, fmt.minOpset);
      const codes = g.initializer(makeTensor(`${name}.qweight`, fmt.onnxDataType, t.shape, packCodes(t.codes, t.bits)));
      const scale = g.initializer(makeTensor(`${name}.scale`, DataType.FLOAT, t.scaleShape, bytesOf(t.scale)));
      s = { layout: "dq", codes, scale, attrs: t.groupSize > 0 ? { axis: t.inputAxis, block_size: t.groupSize } : {} };
      this.weights.push({
        name, shape: t.shape, layout: "dq", initializer: codes, scale, bits: t.bits, input_axis: t.inputAxis,
        group_size: t.groupSize, scale_shape: t.scaleShape,
      });
      this.storedBytes.set(name, Math.ceil((t.codes.length * t.bits) / 8) + t.scale.byteLength);
    }
    this.stored.set(name, s);
    return s;
  }

  /** A quantized (K, N) weight in MatMulNBits' layout. */
  storeNBits(name: string, w: QuantTensor): StoredWeight & { layout: "nbits" } {
    const cached = this.stored.get(name);
    if (cached !== undefined) {
      if (cached.layout !== "nbits") throw new Error(`internal: ${name} stored as ${cached.layout} and as nbits`);
      return cached;
    }
    this.usesMicrosoftDomain = true;
    const nb = toMatMulNBits(w);
    const codes = this.root.initializer(makeTensor(`${name}.qweight`, DataType.UINT8, nb.dims, nb.packed));
    const scale = this.root.initializer(makeTensor(`${name}.scale`, DataType.FLOAT, [nb.scales.length], bytesOf(nb.scales)));
    this.weights.push({
      name, shape: w.shape, layout: "nbits", initializer: codes, scale, bits: w.bits, input_axis: 0,
      group_size: w.groupSize, scale_shape: [nb.scales.length], block_size: nb.blockSize,
    });
    this.storedBytes.set(name, nb.packed.byteLength + nb.scales.byteLength);
    const [K, N] = w.shape;
    const s = { layout: "nbits" as const, codes, scale, K, N, bits: w.bits, blockSize: nb.blockSize };
    this.stored.set(name, s);
    return s;
  }
}

// ─── layers ─────────────────────────────────────────────────────────────────────────────────────

/**
 * Layer builders over one graph scope. Values they make are visible in this scope (and its subgraphs)
 * only, so a subgraph that needs weights gets a Layers of its own over the same WeightStore. (lowbit's
 * graphs keep every weight's nodes in the main graph: see bart_onnx.ts on onnxruntime's DQ fusion.)
 */
export class Layers {
  private readonly floatValues = new Map<string, string>();

  constructor(readonly g: GraphBuilder, readonly weights: WeightStore) {}

  /** The fp32 value of a weight: the initializer itself, or the output of its DequantizeLinear. */
  weight(name: string): string {
    const cached = this.floatValues.get(name);
    if (cached !== undefined) return cached;
    const s = this.weights.store(name);
    let value: string;
    if (s.layout === "float") value = s.initializer;
    else if (s.layout === "dq") value = this.g.one("DequantizeLinear", [s.codes, s.scale], s.attrs);
    else throw new Error(`internal: ${name} is stored for MatMulNBits only`);
    this.floatValues.set(name, value);
    return value;
  }

  /** Per-token int8 fake quantization (DESIGN.md): x ← clamp(round(x / s), ±127) · s, s = max|x| / 127. */
  quantizeActivation(x: string): string {
    const g = this.g;
    const absMax = g.one("ReduceMax", [g.one("Abs", [x]), g.i64([-1])], { keepdims: 1 });
    const s = g.one("Div", [g.one("Max", [absMax, g.f32(ACTIVATION_ABSMAX_FLOOR)]), g.f32(127)]);
    const codes = g.one("Clip", [g.one("Round", [g.one("Div", [x, s])]), g.f32(-127), g.f32(127)]);
    return g.one("Mul", [codes, s]);
  }

  /** Whether the input of a product with this weight is int8-quantized: the weight is, and A8 is on. */
  quantizesInput(weightName: string): boolean {
    return this.weights.tensor(weightName).kind === "quant" && this.weights.options.activationBits === 8;
  }

  /** x (…, K) @ W (K, N) + b (N), W = `${module}.weight`. */
  linear(x: string, module: string): string {
    const g = this.g;
    const wName = `${module}.weight`;
    const bias = this.weight(`${module}.bias`);
    const input = this.quantizesInput(wName) ? this.quantizeActivation(x) : x;
    const w = this.weights.tensor(wName);
    if (this.weights.options.format === "nbits" && w.kind === "quant") {
      const nb = this.weights.storeNBits(wName, w);
      return g.op("MatMulNBits", [input, nb.codes, nb.scale, "", "", bias], { K: nb.K, N: nb.N, bits: nb.bits, block_size: nb.blockSize, accuracy_level: 0 }, 1, "com.microsoft")[0];
    }
    return g.one("Add", [g.one("MatMul", [input, this.weight(wName)]), bias]);
  }

  layerNorm(x: string, module: string, epsilon: number): string {
    return this.g.one("LayerNormalization", [x, this.weight(`${module}.weight`), this.weight(`${module}.bias`)], { axis: -1, epsilon: { float: epsilon } });
  }

  /** The tanh GELU (GPT-2's, HF "gelu_new"): 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))). */
  geluTanh(x: string): string {
    const g = this.g;
    const cube = g.one("Mul", [g.one("Mul", [x, x]), x]);
    const inner = g.one("Mul", [g.one("Add", [x, g.one("Mul", [cube, g.f32(0.044715)])]), g.f32(Math.sqrt(2 / Math.PI))]);
    return g.one("Mul", [g.one("Mul", [x, g.f32(0.5)]), g.one("Add", [g.one("Tanh", [inner]), g.f32(1)])]);
  }

  /** (B, n, NH·HS) → (B, NH, n, HS). */
  splitHeads(t: string, NH: number, HS: number): string {
    const g = this.g;
    return g.one("Transpose", [g.one("Reshape", [t, g.i64([0, 0, NH, HS])])], { perm: [0, 2, 1, 3] });
  }

  /** softmax(q·kᵀ / √HS where allowed) · v, heads merged back: (B, NH, n, HS) ×2 + (B, NH, m, HS) → (B, n, width). */
  attend(q: string, keys: string, values: string, allowed: string, HS: number, width: number): string {
    const g = this.g;
    const scores = g.one("Div", [g.one("MatMul", [q, g.one("Transpose", [keys], { perm: [0, 1, 3, 2] })]), g.f32(Math.sqrt(HS))]); // (B, NH, n, m)
    const probs = g.one("Softmax", [g.one("Where", [allowed, scores, g.f32(F32_LOWEST)])], { axis: -1 });
    return g.one("Reshape", [g.one("Transpose", [g.one("MatMul", [probs, values])], { perm: [0, 2, 1, 3] }), g.i64([0, 0, width])]);
  }

  /**
   * The graph output `logits` (B, T, V) = x · Wᵀ (+ bias), W = `head` (V, width), x int8-quantized first where
   * the head's input is. Gemm with transB reads W in place; MatMul would need a Transpose of it every run.
   */
  logits(x: string, head: string, bias: string | undefined, width: number, V: number): void {
    const g = this.g;
    const final = this.quantizesInput(head) ? this.quantizeActivation(x) : x;
    const rows = g.one("Reshape", [final, g.i64([-1, width])]); // (B·T, width)
    const logits2d = g.one("Gemm", bias === undefined ? [rows, this.weight(head)] : [rows, this.weight(head), this.weight(bias)], { transB: 1 }); // (B·T, V)
    const logitsShape = g.one("Concat", [g.one("Slice", [g.one("Shape", [final]), g.i64([0]), g.i64([2])]), g.i64([V])], { axis: 0 });
    g.named("logits", "Reshape", [logits2d, logitsShape]);
  }

  /** The exact GELU (HF "gelu", torch's default): 0.5 x (1 + erf(x / √2)), as x · 0.5 · (1 + erf(x · (1/√2))). */
  geluErf(x: string): string {
    const g = this.g;
    const erf = g.one("Erf", [g.one("Mul", [x, g.f32(Math.SQRT1_2)])]);
    return g.one("Mul", [g.one("Mul", [x, g.f32(0.5)]), g.one("Add", [erf, g.f32(1)])]);
  }
}

// ─── masks and shapes ───────────────────────────────────────────────────────────────────────────

/** Scalar dimension `axis` of a value's shape. */
export function dimOf(g: GraphBuilder, value: string, axis: number): string {
  return g.one("Gather", [g.one("Shape", [value]), g.i64([axis], [])], { axis: 0 });
}

/** Query t (position P + t) sees key s iff s <= P + t: bool (T, P + T), from the scalars P and T. */
export function causalMask(g: GraphBuilder, P: string, T: string): string {
  const total = g.one("Add", [P, T]);
  const keyPos = g.one("Unsqueeze", [g.one("Range", [g.i64([0], []), total, g.i64([1], [])]), g.i64([0])]); // (1, P + T)
  const queryPos = g.one("Unsqueeze", [g.one("Range", [P, total, g.i64([1], [])]), g.i64([1])]); // (T, 1)
  return g.one("LessOrEqual", [keyPos, queryPos]);
}

/** A per-(batch, key) mask (B, n) of int64 ones and zeros → bool (B, 1, 1, n), broadcast over heads and queries. */
export function keyMask(g: GraphBuilder, mask: string): string {
  return g.one("Cast", [g.one("Unsqueeze", [mask, g.i64([1, 2])])], { to: DataType.BOOL });
}

/** The graph, its weights' manifest and what the file needs, once every node is in. */
export function builtGraph(name: string, g: GraphBuilder, store: WeightStore, input: ValueInfo[], output: ValueInfo[]): BuiltGraph {
  return {
    graph: { name, node: g.nodes, initializer: g.initializers, input, output },
    weights: store.weights, opset: store.opset, usesMicrosoftDomain: store.usesMicrosoftDomain, storedBytes: store.storedBytes,
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
