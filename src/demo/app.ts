// The browser demo's page script (src/demo/index.html; bundled with the runtime by scripts/build_demo.ts): loads a
// served model (GET models.json, from `lowbit serve`) or a local .onnx file or folder, streams GPT-2 generation or
// BART summarization into the page, stops on request (an AbortSignal), and shows load time, tokens/s, memory,
// threads and whether the page is cross-origin isolated. Plain DOM, no framework: a handful of elements.
//
// For tests (test/browser/demo.test.ts) the page states what it did in data attributes: #model-status's
// data-state (idle|loading|ready|error), data-name, data-family and data-threads; #output's data-state
// (idle|running|done|stopped|error), data-ids (the generated ids, comma-separated, as generate() yields them)
// and data-options (the options object passed to generate(), as JSON).
//
// The model runs on the page's own thread (its workers, where the page is cross-origin isolated, run the
// matrix products); generate() yields to the event loop between tokens when given a signal, so the page
// repaints and the Stop button works while it runs.

import { loadModel, type FolderFiles, type GenerateOptions, type LoadOptions, type LowbitModel, type ModelSource, type Seq2SeqOptions } from "../runtime/index.js";
import { kernelFileName, preferredVariant } from "../runtime/kernels.js";

/** One entry of GET models.json (src/demo/server.ts). */
interface ListedModel {
  name: string;
  family: "gpt2" | "bart";
  url: string;
  bytes: number;
  bundled: boolean;
}

const DEFAULT_INPUT = {
  gpt2: "The President said that",
  bart: "The Congress has before it a bill to improve the rivers and harbors of the country. The farmers of the West have " +
    "long asked for cheaper means of carrying their grain to the markets of the East. Our canals are old and our roads are " +
    "few. I recommend that the bill be passed at this session, and that the work begin in the spring.",
} as const;

// ---------------------------------------------------------------------------------------------------------
// Elements

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`demo page: no element #${id} (index.html and app.ts disagree)`);
  return found as T;
}

const ui = {
  modelSelect: element<HTMLSelectElement>("model-select"),
  fileInput: element<HTMLInputElement>("file-input"),
  folderInput: element<HTMLInputElement>("folder-input"),
  modelStatus: element<HTMLParagraphElement>("model-status"),
  promptLabel: element<HTMLLabelElement>("prompt-label"),
  prompt: element<HTMLTextAreaElement>("prompt"),
  gpt2Options: element<HTMLFieldSetElement>("gpt2-options"),
  bartOptions: element<HTMLFieldSetElement>("bart-options"),
  maxNewTokens: element<HTMLInputElement>("max-new-tokens"),
  temperature: element<HTMLInputElement>("temperature"),
  topK: element<HTMLInputElement>("top-k"),
  repetitionPenalty: element<HTMLInputElement>("repetition-penalty"),
  seed: element<HTMLInputElement>("seed"),
  stopAtEos: element<HTMLInputElement>("stop-at-eos"),
  numBeams: element<HTMLInputElement>("num-beams"),
  bartMaxNewTokens: element<HTMLInputElement>("bart-max-new-tokens"),
  run: element<HTMLButtonElement>("run"),
  stop: element<HTMLButtonElement>("stop"),
  output: element<HTMLDivElement>("output"),
  error: element<HTMLParagraphElement>("error"),
  loadTime: element<HTMLElement>("load-time"),
  speed: element<HTMLElement>("speed"),
  memory: element<HTMLElement>("memory"),
  threads: element<HTMLElement>("threads"),
  isolated: element<HTMLElement>("isolated"),
};

// ---------------------------------------------------------------------------------------------------------
// State

let model: LowbitModel | undefined;
/** Bumped by every load, so a slow load that a newer one overtook is dropped rather than shown. */
let loadNumber = 0;
/** The running generation's controller; undefined when idle. */
let running: AbortController | undefined;

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const familyName = (family: "gpt2" | "bart") => (family === "gpt2" ? "GPT-2" : "BART");
const isolated = () => globalThis.crossOriginIsolated === true;

/** One line for any error: a LowbitError's message already names the file, the field, what was expected and found. */
function errorLine(err: unknown): string {
  if (err instanceof Error) return err.name === "LowbitError" || err.name === "Error" ? err.message : `${err.name}: ${err.message}`;
  return String(err);
}

function showError(err: unknown): void {
  ui.error.textContent = errorLine(err);
  ui.error.hidden = false;
}

function clearError(): void {
  ui.error.textContent = "";
  ui.error.hidden = true;
}

/** Enables what makes sense now: nothing model-related while a model loads or a generation runs. */
function setControls(state: "loading" | "running" | "idle"): void {
  const busy = state !== "idle";
  ui.modelSelect.disabled = busy;
  ui.fileInput.disabled = busy;
  ui.folderInput.disabled = busy;
  ui.run.disabled = busy || model === undefined;
  ui.stop.disabled = state !== "running";
}

/** The model's memory: its WebAssembly memory (weights, caches, scratch) and, where Chromium exposes it, the JS heap. */
function showMemory(): void {
  if (model === undefined) return;
  const heap = (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
  ui.memory.textContent = `WASM ${mib(model.wasmMemoryBytes())}${heap !== undefined ? `, JS heap ${mib(heap)}` : ""}`;
}

function showIsolation(): void {
  ui.isolated.textContent = isolated() ? "yes (threads available)" : "no: the page was served without COOP/COEP, so the model runs on one thread";
}

// ---------------------------------------------------------------------------------------------------------
// Loading

/** Kernel URLs on the serving origin (`lowbit serve` serves build/*.wasm under kernels/); the threads build is fetched only where threads run. */
function loadOptions(): LoadOptions {
  const variant = preferredVariant();
  return {
    variant,
    kernels: new URL(`kernels/${kernelFileName(variant)}`, location.href),
    threadKernels: new URL(`kernels/${kernelFileName("simd", true)}`, location.href),
  };
}

async function load(source: ModelSource, name: string): Promise<void> {
  const mine = ++loadNumber;
  running?.abort();
  model?.dispose();
  model = undefined;
  clearError();
  setControls("loading");
  ui.modelStatus.dataset.state = "loading";
  ui.modelStatus.dataset.name = name;
  ui.modelStatus.textContent = `Loading ${name}…`;
  try {
    const loaded = await loadModel(source, loadOptions());
    if (mine !== loadNumber) {
      loaded.dispose();
      return;
    }
    model = loaded;
    const q = loaded.quantization;
    ui.modelStatus.dataset.state = "ready";
    ui.modelStatus.dataset.family = loaded.modelType;
    ui.modelStatus.dataset.threads = String(loaded.threads);
    ui.modelStatus.textContent = `${name}: ${familyName(loaded.modelType)}, W-E-A ${q.weight_bits}-${q.embedding_bits}-${q.activation_bits} ` +
      `(weight, embedding and activation bits), ${loaded.kernelVariant} kernels${loaded.config.untrained ? "; untrained (random weights): its text is noise" : ""}`;
    ui.loadTime.textContent = `${loaded.loadMs.toFixed(0)} ms (read, checksum checked, weights placed in WASM memory)`;
    ui.threads.textContent = `${loaded.threads}${loaded.threads > 1 ? " (workers share the WASM memory)" : ""}`;
    showFamily(loaded.modelType);
    showMemory();
  } catch (err) {
    if (mine !== loadNumber) return;
    ui.modelStatus.dataset.state = "error";
    ui.modelStatus.textContent = `Could not load ${name}.`;
    // The runtime names bytes and in-memory folders generically ("model bytes", "model folder/config.json"); here they have names.
    showError(errorLine(err).replace(/^model (bytes|folder)(?=[:/])/, name.replace(/\/$/, "")));
  } finally {
    if (mine === loadNumber) setControls("idle");
  }
}

/** Switches the input box and options to a family; the other family's untouched default text is swapped too. */
function showFamily(family: "gpt2" | "bart"): void {
  ui.gpt2Options.hidden = family !== "gpt2";
  ui.bartOptions.hidden = family !== "bart";
  ui.promptLabel.textContent = family === "gpt2" ? "Prompt" : "Article to summarize";
  ui.run.textContent = family === "gpt2" ? "Generate" : "Summarize";
  const other = family === "gpt2" ? DEFAULT_INPUT.bart : DEFAULT_INPUT.gpt2;
  if (ui.prompt.value.trim() === "" || ui.prompt.value === other) ui.prompt.value = DEFAULT_INPUT[family];
}

/**
 * A picked folder (input webkitdirectory) as loadModel's FolderFiles: paths relative to the folder itself. Only
 * what a folder load reads is read into memory: config.json, generation_config.json and the ONNX files under
 * onnx/ (tokenizer.json and the rest are not needed: every ONNX file carries its tokenizer).
 */
async function folderFiles(list: FileList): Promise<{ folder: FolderFiles; name: string }> {
  const files: Record<string, Uint8Array> = {};
  let name = "folder";
  for (const file of Array.from(list)) {
    const parts = file.webkitRelativePath.split("/");
    name = parts[0] || name;
    const rel = parts.slice(1).join("/");
    if (rel === "config.json" || rel === "generation_config.json" || /^onnx\/[^/]+\.onnx$/.test(rel)) {
      files[rel] = new Uint8Array(await file.arrayBuffer());
    }
  }
  return { folder: { files }, name: `${name}/` };
}

async function listServedModels(): Promise<ListedModel[]> {
  try {
    const response = await fetch(new URL("models.json", location.href));
    if (!response.ok) throw new Error(`GET models.json: HTTP ${response.status}`);
    return ((await response.json()) as { models: ListedModel[] }).models;
  } catch (err) {
    showError(`${errorLine(err)}; open a local .onnx file or folder instead (\`lowbit serve\` lists its models there)`);
    return [];
  }
}

// ---------------------------------------------------------------------------------------------------------
// Generation

/** A number field: undefined when blank (the runtime's default); the runtime checks the range and names the option. */
function numberField(input: HTMLInputElement): number | undefined {
  return input.value.trim() === "" ? undefined : Number(input.value);
}

/** The options the form asks for, blank fields left out (so BART's come from its generation_config.json). */
function formOptions(family: "gpt2" | "bart"): GenerateOptions | Seq2SeqOptions {
  const fields: Record<string, number | boolean | undefined> = family === "gpt2"
    ? {
      maxNewTokens: numberField(ui.maxNewTokens),
      temperature: numberField(ui.temperature),
      topK: numberField(ui.topK),
      repetitionPenalty: numberField(ui.repetitionPenalty),
      seed: numberField(ui.seed),
      stopAtEos: ui.stopAtEos.checked,
    }
    : { numBeams: numberField(ui.numBeams), maxNewTokens: numberField(ui.bartMaxNewTokens) };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

/** Appends streamed text to the output; the GPT-2 prompt stays in front of it, dimmed. */
function startOutput(family: "gpt2" | "bart", input: string): Text {
  ui.output.replaceChildren();
  if (family === "gpt2") {
    const prompt = document.createElement("span");
    prompt.className = "prompt";
    prompt.textContent = input;
    ui.output.append(prompt);
  }
  const generated = document.createTextNode("");
  ui.output.append(generated);
  return generated;
}

async function generate(): Promise<void> {
  const m = model;
  if (m === undefined || running !== undefined) return;
  clearError();
  const input = ui.prompt.value;
  const options = formOptions(m.modelType);
  const controller = new AbortController();
  running = controller;
  setControls("running");
  const text = startOutput(m.modelType, input);
  const ids: number[] = [];
  ui.output.dataset.ids = "";
  ui.output.dataset.options = JSON.stringify(options);
  ui.output.dataset.state = "running";
  ui.speed.textContent = m.modelType === "bart" ? "encoding…" : "prefill…";
  const started = performance.now();
  let firstAt: number | undefined;
  const liveSpeed = () => {
    const now = performance.now();
    if (firstAt === undefined || ids.length < 2) return `${ids.length} tokens`;
    return `${ids.length} tokens; ${((ids.length - 1) / ((now - firstAt) / 1e3)).toFixed(1)} tok/s after the first (${(firstAt - started).toFixed(0)} ms to the first token)`;
  };
  try {
    const stream = m.modelType === "gpt2"
      ? m.generate(input, { ...(options as GenerateOptions), signal: controller.signal })
      : m.generate(input, { ...(options as Seq2SeqOptions), signal: controller.signal });
    for await (const token of stream) {
      if (token.id >= 0) {
        firstAt ??= performance.now();
        ids.push(token.id);
      }
      text.appendData(token.text);
      ui.output.dataset.ids = ids.join(",");
      ui.speed.textContent = liveSpeed();
      if (ids.length % 16 === 0) showMemory();
    }
    ui.speed.textContent = finalSpeed(m, ids.length);
    showMemory();
    ui.output.dataset.state = "done";
  } catch (err) {
    if (controller.signal.aborted) {
      ui.speed.textContent = `${liveSpeed()}; stopped`;
      ui.output.dataset.state = "stopped";
    } else {
      showError(err);
      ui.output.dataset.state = "error";
    }
  } finally {
    running = undefined;
    setControls("idle");
  }
}

/** The run's statistics as the runtime measured them (model.lastStats). */
function finalSpeed(m: LowbitModel, count: number): string {
  if (m.modelType === "gpt2") {
    const s = m.lastStats;
    if (s === undefined) return `${count} tokens`;
    return `prefill ${s.promptTokens} tokens at ${s.prefillTokensPerS.toFixed(1)} tok/s; decode ${Math.max(0, s.generatedTokens - 1)} tokens at ` +
      `${s.decodeTokensPerS.toFixed(1)} tok/s; stop: ${s.stopReason.replace(/_/g, " ")}`;
  }
  const s = m.lastStats;
  if (s === undefined) return `${count} tokens`;
  return `encoder ${s.inputTokens} tokens in ${s.encoderMs.toFixed(0)} ms; decode ${s.generatedTokens} tokens at ${s.decodeTokensPerS.toFixed(1)} tok/s ` +
    `(${s.numBeams} beam${s.numBeams === 1 ? "" : "s"}, ${s.decodeStepsPerS.toFixed(1)} steps/s); stop: ${s.stopReason.replace(/_/g, " ")}`;
}

// ---------------------------------------------------------------------------------------------------------
// Start

async function start(): Promise<void> {
  showIsolation();
  ui.prompt.value = DEFAULT_INPUT.gpt2;
  ui.run.addEventListener("click", () => void generate());
  ui.stop.addEventListener("click", () => running?.abort());
  ui.fileInput.addEventListener("change", async () => {
    const file = ui.fileInput.files?.[0];
    if (file === undefined) return;
    ui.modelSelect.value = "";
    await load(new Uint8Array(await file.arrayBuffer()), file.name);
    ui.fileInput.value = ""; // so that picking the same file again loads it again
  });
  ui.folderInput.addEventListener("change", async () => {
    const list = ui.folderInput.files;
    if (list === null || list.length === 0) return;
    ui.modelSelect.value = "";
    const { folder, name } = await folderFiles(list);
    await load(folder, name);
    ui.folderInput.value = "";
  });

  const served = await listServedModels();
  ui.modelSelect.replaceChildren(new Option(served.length > 0 ? "(a local file)" : "(none served)", ""));
  for (const m of served) {
    ui.modelSelect.append(new Option(`${m.name}: ${familyName(m.family)}, ${mib(m.bytes)}${m.bundled ? "" : " (--model)"}`, m.name));
  }
  const byName = new Map(served.map((m) => [m.name, m]));
  ui.modelSelect.addEventListener("change", () => {
    const picked = byName.get(ui.modelSelect.value);
    if (picked !== undefined) void load(new URL(picked.url, location.href), picked.name);
  });
  setControls("idle");
  if (served.length > 0 && loadNumber === 0) { // unless a local file was opened while the list was on its way
    ui.modelSelect.value = served[0].name;
    await load(new URL(served[0].url, location.href), served[0].name);
  }
}

void start();
