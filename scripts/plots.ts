// Draws the result plots of docs/plots/ (SVG) from the committed results: quality against bit width per method,
// decode speed per engine and bit width, and model size against quality. Not a measurement of its own: every
// number comes from a json under bench/results/ or models/, selected and pooled exactly as the tables of
// docs/RESULTS.md and bench/results/generate.md select them (the functions below name the script they follow).
//
//   npx tsx scripts/plots.ts [--out docs/plots] [--root .]
//
// --root is the folder the inputs are read from (the repository by default; the test points it at a copy).
// Specs are vega-lite, compiled to vega and rendered headless to SVG (renderer "none": no canvas package; text
// widths are estimated, see EM_PER_CHARACTER). The output is deterministic: no timestamps, rows in a fixed order.

import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Command, Option } from "commander";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { median } from "../bench/harness.js";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { LowbitError } from "../src/errors.js";
import { intIn, numberIn, oneOf, parseJson, parseOrThrow, str, v } from "../src/format/schema.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

// ---------------------------------------------------------------------------------------------------------
// Inputs: the committed results, each parsed at the edge with the fields this script reads

/** The inputs, relative to --root. */
export const INPUTS = {
  training: "bench/results/training.json", // GPT-2 6×256 runs (scripts/make_results.ts)
  training124m: "bench/results/training_124m.json", // GPT-2-124M runs (scripts/results_124m.ts)
  export124m: "bench/results/export.json", // 124M-shaped exports: weights ratio per bit width (bench/export.ts)
  report124m: "models/quantgpt124m-228.report.json", // the trained 124M 2-2-8 file's report: fp32 bytes of the shape
  bartTraining: "bench/results/bart/training.json", // BART runs and PyTorch's test ROUGE (scripts/results_bart.ts)
  bartSizes: "bench/results/bart/sizes.json", // BART exported weights per bit width
  generate: "bench/results/generate.json", // decode speed (bench/generate.ts)
} as const;

const positive = numberIn(0, Number.POSITIVE_INFINITY, { openMin: true });
const bytes = intIn(1, Number.MAX_SAFE_INTEGER);

const TrainingSchema = v.object({
  rows: v.array(v.looseObject({
    run: str(), method: str(), wea: str(), recipe: str(), world_size: intIn(1, 1 << 16), shape: v.optional(str()),
    torch_test_ppl: v.optional(positive), model_mb: v.optional(positive), param_count: v.optional(bytes),
  })),
});
const Training124mSchema = v.object({
  teacher: str(),
  teachers: v.record(str(), v.looseObject({ shape: str(), test: positive })),
  grid: v.record(str(), v.looseObject({ method: str(), wea: str(), settings: str(), test: positive })),
});
const ExportSchema = v.object({
  rows: v.array(v.looseObject({ bits: oneOf([2, 4, 8, 32]), granularity: str(), clip: str(), weights_ratio: positive })),
});
const ReportSchema = v.looseObject({ fp32_bytes: bytes, param_count: bytes });
const BartTrainingSchema = v.object({
  runs: v.array(v.looseObject({ name: str(), method: str(), bits: str(), rouge: v.looseObject({ rouge1: numberIn(0, 1) }) })),
});
const BartSizesSchema = v.record(str(), v.looseObject({ param_bytes: bytes }));
const GenerateSchema = v.object({
  date: str(),
  machine: v.looseObject({ cpu: str(), cores: intIn(1, 1 << 16), node: str() }),
  settings: v.looseObject({ runs: intIn(1, 1 << 16), decode_prompt_tokens: intIn(1, 1 << 20) }),
  rows: v.array(v.looseObject({
    model: str(), engine: oneOf(["lowbit", "ort-web", "ort-node"]), threads_requested: intIn(1, 1 << 16), kernels: str(),
    decode: v.optional(v.looseObject({ tokens_per_s: positive, cpu_share: v.optional(numberIn(0, Number.POSITIVE_INFINITY)) })),
  })),
});

/** Reads and validates one input; a missing file, bad JSON or a bad field is one LowbitError naming the file. */
function readInput<S extends v.GenericSchema>(root: string, relative: string, schema: S): v.InferOutput<S> {
  const file = join(root, relative);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new LowbitError("cannot read results file", { file, found: (err as NodeJS.ErrnoException).code ?? String(err) });
  }
  return parseOrThrow(schema, parseJson(text, file, "results file"), { file });
}

// ---------------------------------------------------------------------------------------------------------
// Methods: one colour per method across both families (QuantGPT and QuantBART are the same method)

interface MethodStyle { key: string; label: string; short: string; color: string }
const METHODS: MethodStyle[] = [
  { key: "teacher", label: "teacher (fp32)", short: "teacher", color: "#000000" },
  { key: "scratch", label: "fp32, a smaller shape trained from scratch", short: "from scratch", color: "#7f7f7f" },
  { key: "quant", label: "QuantGPT / QuantBART", short: "Quant", color: "#1f77b4" },
  { key: "quant-inbatch", label: "QuantGPT, in-batch negatives", short: "in-batch", color: "#17becf" },
  { key: "quant-no-ds", label: "QuantGPT / QuantBART, no dynamic scaling", short: "no dyn. scaling", color: "#9467bd" },
  { key: "logit-kd", label: "logit distillation", short: "logit KD", color: "#ff7f0e" },
  { key: "lsq", label: "LSQ", short: "LSQ", color: "#2ca02c" },
  { key: "pact", label: "PACT", short: "PACT", color: "#d62728" },
  { key: "rtn-mse", label: "RTN, MSE clip (no training)", short: "RTN MSE", color: "#8c564b" },
  { key: "rtn-maxabs", label: "RTN, max-abs clip (no training)", short: "RTN max-abs", color: "#e377c2" },
];
const METHOD_ALIASES: Record<string, string> = {
  quantgpt: "quant", quantbart: "quant", "quantgpt-inbatch": "quant-inbatch",
  "quantgpt-no-dynamic-scaling": "quant-no-ds", "quantbart-no-dynamic-scaling": "quant-no-ds",
};
function methodStyle(method: string, file: string): MethodStyle {
  const key = METHOD_ALIASES[method] ?? method;
  const style = METHODS.find((m) => m.key === key);
  if (style === undefined) {
    throw new LowbitError(`method ${method} has no colour`, { file, expected: `one of ${Object.keys(METHOD_ALIASES).concat(METHODS.map((m) => m.key)).join("|")}`, found: method, hint: "add it to METHODS in scripts/plots.ts" });
  }
  return style;
}

const SETTINGS = ["2-2-8", "4-4-8", "8-8-8"]; // W-E-A, the order of every table

// ---------------------------------------------------------------------------------------------------------
// Quality: one point per model family × method × bit setting, pooled as the tables pool them

/** One pooled point: the median over the runs the table pools for this method and setting. */
export interface QualityPoint {
  method: string; // as the results name it (quantgpt, quantbart, …)
  label: string; // the legend's name (METHODS)
  short: string; // the name written beside an off-scale point
  wea: string; // W-E-A, or "fp32"
  value: number; // perplexity, or ROUGE-1 ×100
  runs: number;
  weightsMiB: number; // the exported weights (param bytes ÷ 2^20)
  shape?: string; // layers×width, where it differs from the panel's
}
export interface QualityPanel {
  title: string;
  measure: string; // the y axis title: short, as vega estimates text widths generously and a long title pushes the layout apart
  lowerIsBetter: boolean;
  teacher: QualityPoint;
  scratch?: QualityPoint; // a full-precision model of the quantized ones' size, where one was trained
  points: QualityPoint[]; // the quantized grid, in table order
  offScaleBeyond: number; // points worse than the teacher by more than this fraction are drawn at the axis edge
}

function point(method: string, wea: string, value: number, runs: number, weightsMiB: number, file: string): QualityPoint {
  const { label, short } = methodStyle(method, file);
  return { method, label, short, wea, value, runs, weightsMiB };
}

/** GPT-2 6×256 on corpus v1: scripts/make_results.ts's "Method × bit setting" table (fullPrecisionLines, gridLines). */
function gpt2SmallPanel(root: string): QualityPanel {
  const file = join(root, INPUTS.training);
  const { rows } = readInput(root, INPUTS.training, TrainingSchema);
  const GRID_METHODS = ["quantgpt", "logit-kd", "lsq", "pact", "quantgpt-no-dynamic-scaling", "quantgpt-inbatch", "rtn-mse", "rtn-maxabs"];
  const teacher = rows.find((r) => r.method === "pretrain" && r.run.includes("teacher"));
  const scratch = rows.find((r) => r.method === "pretrain" && r !== teacher && r.model_mb !== undefined && r.torch_test_ppl !== undefined);
  if (teacher?.torch_test_ppl === undefined || teacher.model_mb === undefined) {
    throw new LowbitError("no teacher row with a test perplexity and a size", { file, expected: "a row with method pretrain, a run name containing teacher, torch_test_ppl and model_mb", found: "none" });
  }
  const main = rows.filter((r) => !r.run.startsWith("scale-"));
  const differences = (recipe: string) => (recipe === "" ? 0 : recipe.split(", ").length);
  const sizeOf = (wea: string) => rows.find((r) => r.wea === wea && r.model_mb !== undefined && r.method !== "pretrain")?.model_mb;
  const points = SETTINGS.flatMap((wea) => GRID_METHODS.flatMap((method) => {
    const candidates = main.filter((r) => r.method === method && r.wea === wea && r.world_size === 1 && r.torch_test_ppl !== undefined);
    if (candidates.length === 0) return [];
    const nearest = Math.min(...candidates.map((r) => differences(r.recipe)));
    const recipe = candidates.find((r) => differences(r.recipe) === nearest)!.recipe;
    const group = candidates.filter((r) => r.recipe === recipe);
    const size = sizeOf(wea);
    if (size === undefined) throw new LowbitError(`no exported run gives the size of ${wea}`, { file, expected: `a ${wea} row with model_mb`, found: "none" });
    return [point(method, wea, median(group.map((r) => r.torch_test_ppl!)), group.length, size, file)];
  }));
  return {
    title: `GPT-2${teacher.shape === undefined ? "" : ` ${teacher.shape}`}${teacher.param_count === undefined ? "" : ` (${(teacher.param_count / 1e6).toFixed(1)}M parameters)`}, corpus v1 test`,
    measure: "test perplexity", lowerIsBetter: true, offScaleBeyond: 0.5,
    teacher: point("teacher", "fp32", teacher.torch_test_ppl, 1, teacher.model_mb, file),
    scratch: scratch === undefined ? undefined : { ...point("scratch", "fp32", scratch.torch_test_ppl!, 1, scratch.model_mb!, file), shape: scratch.shape, short: `from scratch${scratch.shape === undefined ? "" : ` ${scratch.shape}`}` },
    points,
  };
}

/** GPT-2-124M on corpus v2: scripts/results_124m.ts's method grid (gridLines: a method's runs at qat_124m.json's settings, seeds pooled). */
function gpt2_124mPanel(root: string): QualityPanel {
  const file = join(root, INPUTS.training124m);
  const data = readInput(root, INPUTS.training124m, Training124mSchema);
  const METHODS_124M = ["quantgpt", "logit-kd", "lsq", "pact", "rtn-mse", "rtn-maxabs", "quantgpt-no-dynamic-scaling", "quantgpt-inbatch"];
  const teacher = data.teachers[data.teacher];
  if (teacher === undefined) throw new LowbitError(`teacher ${data.teacher} is not among the teachers`, { file, expected: Object.keys(data.teachers).join("|"), found: data.teacher });
  // results_124m.ts's variant(): runs differing in these keys get lines of their own; seed and γ init are pooled.
  const VARIANT_KEYS = ["group_size", "lam", "tau", "bank_momentum"];
  const isVariant = (settings: string) => settings.split(", ").some((s) => VARIANT_KEYS.includes(s.split(" ")[0]));
  // Sizes: the shape's fp32 bytes (the trained file's report) ÷ the weights ratio bench/export.ts measured for
  // each bit width on a 124M-shaped export (module scales, max-abs clip); sizes depend on shape and bits alone.
  const report = readInput(root, INPUTS.report124m, ReportSchema);
  const exported = readInput(root, INPUTS.export124m, ExportSchema);
  const sizeOf = (bits: number) => {
    const row = exported.rows.find((r) => r.bits === bits && r.granularity === "module" && r.clip === "maxabs");
    if (row === undefined) throw new LowbitError(`no ${bits}-bit module-wise max-abs row`, { file: join(root, INPUTS.export124m), expected: `a row with bits ${bits}, granularity module, clip maxabs`, found: "none" });
    return report.fp32_bytes / row.weights_ratio / 2 ** 20;
  };
  const grid = Object.entries(data.grid).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); // results_124m.ts reads runs/ sorted
  const points = SETTINGS.flatMap((wea) => METHODS_124M.flatMap((method) => {
    const group = grid.filter(([, r]) => r.method === method && r.wea === wea && !isVariant(r.settings));
    if (group.length === 0) return [];
    return [point(method, wea, median(group.map(([, r]) => r.test)), group.length, sizeOf(Number(wea.split("-")[0])), file)];
  }));
  return {
    title: `GPT-2 ${teacher.shape} (${(report.param_count / 1e6).toFixed(1)}M parameters), corpus v2 test`,
    measure: "test perplexity", lowerIsBetter: true, offScaleBeyond: 0.5,
    teacher: point("teacher", "fp32", teacher.test, 1, sizeOf(32), file),
    points,
  };
}

/** BART on the lead summarization task: scripts/results_bart.ts's table (runs grouped by bits and method, median ROUGE-1). */
function bartPanel(root: string): QualityPanel {
  const file = join(root, INPUTS.bartTraining);
  const { runs } = readInput(root, INPUTS.bartTraining, BartTrainingSchema);
  const sizes = readInput(root, INPUTS.bartSizes, BartSizesSchema);
  const sizeOf = (bits: string) => {
    const s = sizes[bits.split("-")[0]];
    if (s === undefined) throw new LowbitError(`no size for ${bits.split("-")[0]}-bit weights`, { file: join(root, INPUTS.bartSizes), expected: `a key "${bits.split("-")[0]}"`, found: Object.keys(sizes).join(", ") });
    return s.param_bytes / 2 ** 20;
  };
  const teacherRun = runs.find((r) => r.method === "teacher");
  if (teacherRun === undefined) throw new LowbitError("no teacher run", { file, expected: "a run with method teacher", found: "none" });
  const ORDER = ["quantbart", "quantbart-no-dynamic-scaling", "logit-kd", "lsq", "pact", "rtn-mse", "rtn-maxabs"];
  const methods = [...new Set(runs.filter((r) => r.method !== "teacher").map((r) => r.method))];
  for (const m of methods) methodStyle(m, file); // an unknown method is an error, not a silent omission
  const ordered = methods.sort((a, b) => rankOf(ORDER, a) - rankOf(ORDER, b) || (a < b ? -1 : 1));
  const points = SETTINGS.flatMap((bits) => ordered.flatMap((method) => {
    const group = runs.filter((r) => r.method === method && r.bits === bits);
    return group.length === 0 ? [] : [point(method, bits, 100 * median(group.map((r) => r.rouge.rouge1)), group.length, sizeOf(bits), file)];
  }));
  const fp32 = sizes["32"];
  return {
    title: `BART 6+6${fp32 === undefined ? "" : ` (${(fp32.param_bytes / 4 / 1e6).toFixed(1)}M parameters)`}, lead summarization test`,
    measure: "ROUGE-1 F ×100", lowerIsBetter: false, offScaleBeyond: 0.15,
    teacher: point("teacher", "fp32", 100 * teacherRun.rouge.rouge1, 1, sizeOf(teacherRun.bits), file),
    points,
  };
}

const rankOf = (order: string[], x: string) => (order.includes(x) ? order.indexOf(x) : order.length);

// ---------------------------------------------------------------------------------------------------------
// Speed: bench/results/generate.json's rows at the default kernels, one bar per file × engine × threads

const FILES: [model: string, label: string][] = [
  ["fp32-dq", "fp32"], ["w8-dq", "8-8-8"], ["w4-dq", "4-4-8"], ["w2-dq", "2-2-8"], ["trained-w2-dq", "2-2-8 trained"],
];
const ENGINES: [engine: string, label: string, color: string][] = [
  ["lowbit", "lowbit (WASM SIMD)", "#1f77b4"], ["ort-web", "onnxruntime-web (WASM)", "#ff7f0e"], ["ort-node", "onnxruntime-node (native CPU)", "#7f7f7f"],
];
const LOW_SHARE = 0.9; // generate.md flags rows whose CPU share fell below this: other processes took their cores
const CPU_SHARES = [`${LOW_SHARE} or more`, `below ${LOW_SHARE}`, "not measured"];

export interface SpeedBar {
  file: string; // the FILES label
  engine: string; // the ENGINES label
  threads: string; // "1 thread" | "2 threads"
  tokensPerS: number;
  text: string; // the bar's value label
  cpu: string; // the CPU share legend's entry
}
export interface SpeedData { bars: SpeedBar[]; machine: string; date: string; runs: number; promptTokens: number }

function speedData(root: string): SpeedData {
  const file = join(root, INPUTS.generate);
  const g = readInput(root, INPUTS.generate, GenerateSchema);
  const bars: SpeedBar[] = [];
  for (const [model, fileLabel] of FILES) {
    for (const [engine, engineLabel] of ENGINES) {
      for (const r of g.rows.filter((x) => x.model === model && x.engine === engine && x.kernels === "default" && x.decode !== undefined).sort((a, b) => a.threads_requested - b.threads_requested)) {
        const tps = r.decode!.tokens_per_s;
        const share = r.decode!.cpu_share;
        bars.push({
          file: fileLabel, engine: engineLabel, threads: `${r.threads_requested} thread${r.threads_requested === 1 ? "" : "s"}`, tokensPerS: tps,
          text: tps >= 10 ? tps.toFixed(0) : tps.toFixed(1),
          cpu: share === undefined ? CPU_SHARES[2] : share < LOW_SHARE ? CPU_SHARES[1] : CPU_SHARES[0],
        });
      }
    }
  }
  if (bars.length === 0) throw new LowbitError("no decode rows", { file, expected: `rows of models ${FILES.map(([m]) => m).join("|")} at kernels default with decode`, found: "none" });
  const m = g.machine;
  return { bars, machine: `${m.cpu}, ${m.cores} cores, Node ${m.node}`, date: g.date.slice(0, 10), runs: g.settings.runs, promptTokens: g.settings.decode_prompt_tokens };
}

// ---------------------------------------------------------------------------------------------------------
// Specs

const FONT = "Helvetica, Arial, sans-serif";
const CONFIG = {
  font: FONT,
  background: "white",
  title: { anchor: "start", fontSize: 15, subtitleFontSize: 11, subtitleColor: "#444", offset: 12 },
  axis: { labelFontSize: 11, titleFontSize: 12, titleFontWeight: "normal", gridColor: "#e6e6e6" },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 400, symbolOpacity: 1 },
  header: { labelFontSize: 12, titleFontSize: 12 },
  view: { stroke: "#bbb" },
} as const;
const PANEL = { width: 300, height: 280 };
const LINE_PX = 12; // height of one stacked off-scale label

/** The method colour channel, its scale fixed to the methods drawn (in METHODS order), shared by every panel. */
function methodColor(drawn: QualityPoint[]) {
  const present = new Set(drawn.map((q) => q.label));
  const used = METHODS.filter((m) => present.has(m.label));
  return { field: "label", type: "nominal", title: "method", scale: { domain: used.map((m) => m.label), range: used.map((m) => m.color) } };
}
type ColorChannel = ReturnType<typeof methodColor>;

/** The y scale of a quality panel: from the best value to `offScaleBeyond` worse than the teacher, worse values clamped. */
function qualityDomain(p: QualityPanel): [number, number] {
  const all = [p.teacher, ...(p.scratch ? [p.scratch] : []), ...p.points].map((x) => x.value);
  if (p.lowerIsBetter) return [Math.floor(Math.min(...all) * 0.97 / 5) * 5, Math.ceil(p.teacher.value * (1 + p.offScaleBeyond) / 10) * 10];
  const edge = Math.floor(p.teacher.value * (1 - p.offScaleBeyond));
  return [edge, Math.ceil(Math.max(...all) * 1.02)];
}
const offScale = (p: QualityPanel, value: number, [lo, hi]: [number, number]) => (p.lowerIsBetter ? value > hi : value < lo);
const valueText = (x: number, digits = 1) => (x >= 1000 ? Math.round(x).toLocaleString("en-US") : x.toFixed(x >= 100 ? 0 : digits));

/** Labels for the off-scale points: stacked inward from the clamped edge, at the point's x, in its method's colour. */
function offScaleLabels(p: QualityPanel, points: QualityPoint[], domain: [number, number], xKey: (q: QualityPoint) => string | number, firstLine = 1.3) {
  const [lo, hi] = domain;
  const step = (hi - lo) * LINE_PX / PANEL.height;
  const byX = new Map<string | number, QualityPoint[]>();
  for (const q of points.filter((q) => offScale(p, q.value, domain))) byX.set(xKey(q), [...(byX.get(xKey(q)) ?? []), q]);
  return [...byX.values()].flatMap((qs) => qs.map((q, i) => ({
    ...q, labelY: p.lowerIsBetter ? hi - (i + firstLine) * step : lo + (i + firstLine) * step, labelText: `${q.short}: ${valueText(q.value)}`,
  })));
}

/** The y channel of a quality panel; layers that place text by their own field reuse it with `field` replaced. */
function qualityY(p: QualityPanel, domain: [number, number]) {
  return { field: "value", type: "quantitative", title: p.measure, scale: { domain, clamp: true, nice: false, zero: false } };
}
function panelTitle(p: QualityPanel, teacherLine: boolean) {
  const better = `PyTorch, ${p.lowerIsBetter ? "lower" : "higher"} is better`;
  return { text: p.title, subtitle: teacherLine ? `${better}; dashed: the teacher (fp32), ${valueText(p.teacher.value, 2)}` : better, fontSize: 12, subtitleFontSize: 10.5, anchor: "start" };
}

/**
 * One panel of quality_vs_bits.svg: a point per method and bit setting, dodged within the setting, lines per
 * method. `id` prefixes the mark names: vega-lite names each layer's dataset after its mark, so panels whose
 * marks share a name would share their data.
 */
function qualityVsBitsPanel(p: QualityPanel, id: string, color: ColorChannel) {
  const domain = qualityDomain(p);
  const x = { field: "wea", type: "ordinal", title: "W-E-A bits", scale: { type: "band", domain: SETTINGS, paddingInner: 0.2 }, axis: { labelAngle: 0 } };
  const xOffset = { field: "label", type: "nominal", scale: { domain: color.scale.domain.filter((l) => p.points.some((q) => q.label === l)) } };
  const y = qualityY(p, domain);
  return {
    title: panelTitle(p, true), width: PANEL.width, height: PANEL.height,
    layer: [
      { name: `${id}_teacher_rule`, data: { values: [p.teacher] }, mark: { type: "rule", strokeDash: [5, 4], color: "#000" }, encoding: { y } },
      { name: `${id}_lines`, data: { values: p.points }, mark: { type: "line", strokeWidth: 1, opacity: 0.5 }, encoding: { x, xOffset, y, color } },
      { name: `${id}_points`, data: { values: p.points }, mark: { type: "point", shape: "circle", filled: true, size: 45, opacity: 1 }, encoding: { x, xOffset, y, color } },
      {
        name: `${id}_offscale`, data: { values: offScaleLabels(p, p.points, domain, (q) => q.wea) },
        mark: { type: "text", fontSize: 9.5, align: "center", baseline: "middle" },
        encoding: { x, y: { ...y, field: "labelY" }, text: { field: "labelText" }, color },
      },
    ],
  };
}

/**
 * One panel of size_vs_quality.svg: weights MiB (log scale) against quality, a point per model and method. The
 * x axis ticks sit at the models' sizes, each named by its bit setting.
 */
function sizeVsQualityPanel(p: QualityPanel, id: string, color: ColorChannel) {
  const fp32 = [p.teacher, ...(p.scratch ? [p.scratch] : [])];
  const all = [...fp32, ...p.points];
  const domain = qualityDomain(p);
  const sizes = all.map((q) => q.weightsMiB);
  const sizeDomain = [2 ** Math.floor(Math.log2(Math.min(...sizes) * 0.9)), 2 ** Math.ceil(Math.log2(Math.max(...sizes) * 1.1))];
  const ticks = [...SETTINGS.flatMap((wea) => {
    const q = p.points.find((r) => r.wea === wea);
    return q === undefined ? [] : [{ name: wea, size: q.weightsMiB }];
  }), { name: "fp32", size: p.teacher.weightsMiB }];
  // Vega's labelExpr is an expression string: one branch per tick, each label two lines (setting, MiB).
  const labelExpr = ticks.reduceRight((rest, t) => `abs(datum.value - ${t.size}) < 1e-9 ? ['${t.name}', '${t.size.toFixed(1)}'] : ${rest}`, "''");
  const x = {
    field: "weightsMiB", type: "quantitative", title: "exported weights, MiB (log scale)",
    scale: { type: "log", base: 2, domain: sizeDomain, nice: false },
    axis: { values: ticks.map((t) => t.size), labelExpr, labelOverlap: false, labelFontSize: 10 },
  };
  const y = qualityY(p, domain);
  return {
    title: panelTitle(p, false), width: PANEL.width, height: PANEL.height,
    layer: [
      { name: `${id}_size_points`, data: { values: all }, mark: { type: "point", shape: "circle", filled: false, strokeWidth: 1.5, size: 55 }, encoding: { x, y, color } },
      {
        name: `${id}_fp32_text`, data: { values: fp32.filter((q) => !offScale(p, q.value, domain)).map((q) => ({ ...q, text: `${q.short}: ${valueText(q.value)}` })) },
        mark: { type: "text", align: "right", dx: -7, fontSize: 10 }, encoding: { x, y, text: { field: "text" } },
      },
      {
        // Off-scale points within a quarter octave of each other share one stack of labels.
        name: `${id}_offscale`, data: { values: offScaleLabels(p, all, domain, (q) => Math.round(4 * Math.log2(q.weightsMiB)), 2.2) },
        mark: { type: "text", fontSize: 9.5, align: "left", dx: 7, baseline: "middle" },
        encoding: { x, y: { ...y, field: "labelY" }, text: { field: "labelText" }, color },
      },
    ],
  };
}

/** Mark-name prefixes of the quality panels, in plotData()'s order. */
export const PANEL_IDS = ["gpt2_124m", "gpt2_6x256", "bart"];

const SOURCES = "Source: bench/results/training.json, training_124m.json and bart/training.json, as docs/RESULTS.md's tables pool them: one point per method and bit setting, the median of its runs.";

export function qualityVsBitsSpec(panels: QualityPanel[]): TopLevelSpec {
  const color = methodColor(panels.flatMap((p) => p.points));
  return {
    title: {
      text: "Quality against bit width, per quantization method",
      subtitle: [SOURCES, "W-E-A: the bits of weights, embeddings and activations. Values beyond an axis edge are drawn at the edge and written in."],
    },
    hconcat: panels.map((p, i) => qualityVsBitsPanel(p, PANEL_IDS[i], color)),
    resolve: { scale: { color: "shared", xOffset: "independent" } },
    config: CONFIG,
  } as unknown as TopLevelSpec;
}

export function sizeVsQualitySpec(panels: QualityPanel[]): TopLevelSpec {
  const color = methodColor(panels.flatMap((p) => [p.teacher, ...(p.scratch ? [p.scratch] : []), ...p.points]));
  return {
    title: {
      text: "Model size against quality, per model and quantization method",
      subtitle: [
        SOURCES,
        "Size: the exported parameters (lowbit export --report). GPT-2 6×256: the exported runs; GPT-2-124M: the shape's fp32 bytes ÷ bench/results/export.json's weights ratio;",
        "BART: bench/results/bart/sizes.json. Values beyond an axis edge are drawn at the edge and written in.",
      ],
    },
    hconcat: panels.map((p, i) => sizeVsQualityPanel(p, PANEL_IDS[i], color)),
    resolve: { scale: { color: "shared", xOffset: "independent" } },
    config: CONFIG,
  } as unknown as TopLevelSpec;
}

export function decodeSpeedSpec(d: SpeedData): TopLevelSpec {
  const x = { field: "file", type: "nominal", title: "weights, W-E-A bits", scale: { domain: FILES.map(([, l]) => l).filter((l) => d.bars.some((b) => b.file === l)), paddingInner: 0.2 }, axis: { labelAngle: 0 } };
  const xOffset = { field: "engine", type: "nominal", scale: { domain: ENGINES.map(([, l]) => l) } };
  const y = { field: "tokensPerS", type: "quantitative", title: "decode tokens/s" };
  const shares = CPU_SHARES.filter((s) => d.bars.some((b) => b.cpu === s));
  return {
    title: {
      text: "Greedy decode speed (tokens/s, higher is better), GPT-2-124M shape: lowbit against onnxruntime",
      subtitle: [
        `${d.machine}; bench/results/generate.json, measured ${d.date}. Tokens/s after a ${d.promptTokens}-token prompt, median of ${d.runs} runs, one child process per bar.`,
        "All three engines run the same .onnx file: fp32 to 2-2-8 are random weights (RTN), 2-2-8 trained is models/quantgpt124m-228.onnx.",
        "Pale bars: the run got under 90% of its CPU time on this shared machine, so they read low.",
      ],
    },
    data: { values: d.bars },
    facet: { column: { field: "threads", type: "nominal", title: null, sort: ["1 thread", "2 threads"] } },
    spec: {
      width: 420, height: 300,
      layer: [
        {
          name: "bars", mark: { type: "bar" },
          encoding: {
            x, xOffset, y,
            color: { field: "engine", type: "nominal", title: "engine", scale: { domain: ENGINES.map(([, l]) => l), range: ENGINES.map(([, , c]) => c) } },
            opacity: { field: "cpu", type: "ordinal", sort: shares, title: "CPU share", scale: { domain: shares, range: shares.map((s) => (s === CPU_SHARES[1] ? 0.35 : 1)) } },
          },
        },
        { name: "bar_values", mark: { type: "text", baseline: "bottom", dy: -2, fontSize: 9 }, encoding: { x, xOffset, y, text: { field: "text" } } },
      ],
    },
    config: CONFIG,
  } as unknown as TopLevelSpec;
}

// ---------------------------------------------------------------------------------------------------------
// Rendering and main

// Text widths. Without a canvas package vega estimates a line as 0.8 em per character, which is wider than
// Helvetica/Arial set it (about 0.5 em for lower case, 0.55 for digits, 0.7 for capitals) and spreads every
// title, axis and legend apart. vega lets a headless user supply its own measure (vl-convert does, from real
// fonts); no font-metrics package is installed here, so this is one flat, slightly generous 0.6 em.
const EM_PER_CHARACTER = 0.6;
const textMetrics = (vega as unknown as { textMetrics: { width: (item: { fontSize?: number }, text?: unknown) => number } }).textMetrics;
textMetrics.width = (item, text) => Math.ceil(EM_PER_CHARACTER * (item.fontSize ?? 11) * String(text ?? "").trim().length);

/** vega-lite → vega → SVG, headless: the "none" renderer lays out the scenegraph without drawing anything. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}

export interface PlotData { quality: QualityPanel[]; speed: SpeedData }

/** Everything the plots show, read from the inputs under `root`. */
export function plotData(root: string): PlotData {
  return { quality: [gpt2_124mPanel(root), gpt2SmallPanel(root), bartPanel(root)], speed: speedData(root) };
}

export const PLOTS = ["quality_vs_bits.svg", "decode_speed.svg", "size_vs_quality.svg"] as const;

export async function writePlots(root: string, out: string): Promise<string[]> {
  const data = plotData(root);
  const specs: Record<(typeof PLOTS)[number], TopLevelSpec> = {
    "quality_vs_bits.svg": qualityVsBitsSpec(data.quality),
    "decode_speed.svg": decodeSpeedSpec(data.speed),
    "size_vs_quality.svg": sizeVsQualitySpec(data.quality),
  };
  mkdirSync(out, { recursive: true });
  const written: string[] = [];
  for (const name of PLOTS) {
    const path = join(out, name);
    writeFileAtomic(path, await renderSvg(specs[name]));
    written.push(path);
  }
  return written;
}

async function main(argv: string[]): Promise<void> {
  const o = new Command()
    .name("plots")
    .description("Draw docs/plots/*.svg from the committed results")
    .addOption(new Option("--out <dir>", "output folder").default(join(ROOT, "docs", "plots"), "docs/plots in the repo"))
    .addOption(new Option("--root <dir>", "folder the inputs are read from").default(ROOT, "the repo"))
    .parse(argv)
    .opts<{ out: string; root: string }>();
  try {
    for (const path of await writePlots(resolve(o.root), resolve(o.out))) console.log(`wrote ${path}`);
  } catch (err) {
    if (!(err instanceof LowbitError)) throw err;
    console.error(`plots: error: ${err.message}`);
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main(process.argv);
