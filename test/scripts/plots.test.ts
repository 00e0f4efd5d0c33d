// scripts/plots.ts on the committed results: three well-formed SVGs with one mark per row the script selected,
// the same numbers as docs/RESULTS.md's tables, titles that say what is measured, the same bytes on a second
// run, and one error line naming the file when an input is missing or malformed.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { before, describe, it } from "node:test";
import { INPUTS, PANEL_IDS, PLOTS, plotData, type PlotData, type QualityPanel } from "../../scripts/plots.js";
import { LowbitError } from "../../src/errors.js";
import { ROOT, tempDir } from "../helpers/fixtures.js";

const SCRIPT = join(ROOT, "scripts", "plots.ts");

function runPlots(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, ...args], { cwd: ROOT, encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------------------------------------------------
// A minimal XML reader. Written here because no XML parser is among the installed packages and the test may
// not add one; vega's SVG is plain XML (no DTD, CDATA or processing instructions), which this covers. It
// throws on anything not well-formed: unbalanced or crossed tags, unquoted or repeated attributes, a raw
// '<' or a bare '&' in text or attribute values.

interface XmlElement { name: string; attrs: Record<string, string>; children: XmlElement[]; text: string }

function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack = [root];
  const checkText = (text: string, where: number) => {
    if (text.includes("<")) throw new Error(`raw '<' at ${where}`);
    const bad = /&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.exec(text);
    if (bad !== null) throw new Error(`bare '&' at ${where + bad.index}`);
  };
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*"[^"]*")*)\s*(\/?)>|<!--[\s\S]*?-->/g;
  let at = 0;
  for (let m = tag.exec(xml); m !== null; m = tag.exec(xml)) {
    const between = xml.slice(at, m.index);
    checkText(between, at);
    stack[stack.length - 1].text += between;
    at = tag.lastIndex;
    if (m[0].startsWith("<!--")) continue;
    const [, close, name, attrText, selfClose] = m;
    if (close === "/") {
      const open = stack.pop()!;
      if (open.name !== name || attrText !== "" || selfClose !== "") throw new Error(`</${name}> at ${m.index} closes <${open.name}>`);
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*"([^"]*)"/g)) {
      if (a[1] in attrs) throw new Error(`attribute ${a[1]} twice at ${m.index}`);
      checkText(a[2], m.index);
      attrs[a[1]] = a[2];
    }
    const el: XmlElement = { name, attrs, children: [], text: "" };
    stack[stack.length - 1].children.push(el);
    if (selfClose !== "/") stack.push(el);
  }
  const rest = xml.slice(at);
  if (rest.trim() !== "" || rest.includes("<")) throw new Error(`text or a broken tag after the last element: ${JSON.stringify(rest.slice(0, 40))}`);
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1].name}> is never closed`);
  if (root.children.length !== 1) throw new Error(`${root.children.length} root elements`);
  return root.children[0];
}

function* walk(el: XmlElement): Generator<XmlElement> {
  yield el;
  for (const c of el.children) yield* walk(c);
}

/** The items vega drew for the mark a vega-lite layer named `name` (its mark is `${name}_marks`), over all facets. */
function markItems(svg: XmlElement, name: string): XmlElement[] {
  const groups = [...walk(svg)].filter((e) => e.name === "g" && (e.attrs.class ?? "").split(" ").includes(`${name}_marks`));
  return groups.flatMap((g) => g.children);
}

/** Every line of text drawn: a <text>'s own text, or each of its <tspan> lines (vega's multi-line titles). */
const allText = (svg: XmlElement) => [...walk(svg)].filter((e) => e.name === "text" || e.name === "tspan")
  .filter((e) => e.text.trim() !== "").map((e) => e.text.replace(/&amp;/g, "&"));

/** The items of mark `name` in each quality panel (the script prefixes mark names with the panel's id). */
const panelItems = (svg: XmlElement, name: string) => PANEL_IDS.flatMap((id) => markItems(svg, `${id}_${name}`));

// ---------------------------------------------------------------------------------------------------------

const OUT = tempDir("lowbit-plots-");
let data: PlotData;
const svgs: Record<string, XmlElement> = {};
let first: Record<string, Buffer>;

describe("plots from the committed results", () => {
  before(() => {
    const r = runPlots(["--out", join(OUT, "a")]);
    assert.equal(r.status, 0, r.stderr);
    first = Object.fromEntries(PLOTS.map((p) => [p, readFileSync(join(OUT, "a", p))]));
    for (const p of PLOTS) svgs[p] = parseXml(first[p].toString("utf8"));
    data = plotData(ROOT);
  });

  it("writes the three SVGs, well-formed, and nothing else", () => {
    assert.deepEqual(readdirSync(join(OUT, "a")).sort(), [...PLOTS].sort()); // no temp file left behind
    for (const p of PLOTS) {
      const text = first[p].toString("utf8");
      assert.match(text, /^<svg /, p);
      const svg = svgs[p]; // parsed by before(): parseXml throws on anything not well-formed
      assert.equal(svg.name, "svg", p);
      assert.match(svg.attrs.width, /^\d+$/, `${p}: a fixed width`);
      assert.match(svg.attrs.height, /^\d+$/, `${p}: a fixed height`);
    }
  });

  it("writes the same bytes on a second run", () => {
    const r = runPlots(["--out", join(OUT, "b")]);
    assert.equal(r.status, 0, r.stderr);
    for (const p of PLOTS) assert.ok(readFileSync(join(OUT, "b", p)).equals(first[p]), `${p} differs between two runs`);
  });

  it("quality_vs_bits: one point per pooled method and setting, one teacher line per panel", () => {
    const svg = svgs["quality_vs_bits.svg"];
    assert.equal(data.quality.length, PANEL_IDS.length);
    for (const [i, id] of PANEL_IDS.entries()) {
      assert.equal(markItems(svg, `${id}_points`).length, data.quality[i].points.length, id);
      assert.equal(markItems(svg, `${id}_teacher_rule`).length, 1, id);
    }
    const text = allText(svg);
    for (const t of ["W-E-A bits", "test perplexity", "ROUGE-1 F ×100", "PyTorch, lower is better; dashed: the teacher (fp32), 81.33", "2-2-8", "8-8-8"]) {
      assert.ok(text.includes(t), `no label ${t}`);
    }
    assert.ok(text.some((t) => t.startsWith("GPT-2 12×768")), "the 124M panel's title");
    // RTN max-abs at 2-2-8 is far beyond the axis: drawn at the edge and written in.
    assert.ok(text.includes("RTN max-abs: 142,692"), "the off-scale RTN value is written in");
  });

  it("decode_speed: one bar and one value label per engine, file and thread count of generate.json", () => {
    const g = JSON.parse(readFileSync(join(ROOT, INPUTS.generate), "utf8")) as { machine: { cores: number }; rows: { model: string; engine: string; kernels: string; decode?: { tokens_per_s: number } }[] };
    const rows = g.rows.filter((r) => ["fp32-dq", "w8-dq", "w4-dq", "w2-dq", "trained-w2-dq"].includes(r.model) && r.kernels === "default" && r.decode !== undefined);
    assert.ok(rows.length > 0, "generate.json has no decode rows");
    assert.equal(data.speed.bars.length, rows.length);
    const svg = svgs["decode_speed.svg"];
    assert.equal(markItems(svg, "bars").length, rows.length);
    const values = markItems(svg, "bar_values").map((e) => e.text);
    assert.equal(values.length, rows.length);
    const expected = rows.map((r) => r.decode!.tokens_per_s).map((x) => (x >= 10 ? x.toFixed(0) : x.toFixed(1))).sort();
    assert.deepEqual([...values].sort(), expected);
    const text = allText(svg);
    for (const t of ["decode tokens/s", "1 thread", "2 threads", "lowbit (WASM SIMD)", "onnxruntime-web (WASM)", "onnxruntime-node (native CPU)", "fp32", "2-2-8 trained"]) {
      assert.ok(text.includes(t), `no label ${t}`);
    }
    assert.ok(text.some((t) => t.includes(`${g.machine.cores} cores`) && t.includes("bench/results/generate.json")), "the subtitle names the machine and the source");
  });

  it("size_vs_quality: one point per model and method, sizes on a log axis", () => {
    const svg = svgs["size_vs_quality.svg"];
    const expected = data.quality.reduce((n, p) => n + 1 + (p.scratch ? 1 : 0) + p.points.length, 0);
    assert.equal(panelItems(svg, "size_points").length, expected);
    const text = allText(svg);
    assert.ok(text.includes("exported weights, MiB (log scale)"));
    assert.ok(text.some((t) => t.startsWith("from scratch 2×24: 307")), "the small fp32 model's point is named");
  });

  it("takes the numbers docs/RESULTS.md's tables show", () => {
    const results = readFileSync(join(ROOT, "docs", "RESULTS.md"), "utf8").split("\n");
    const line = (prefix: string) => {
      const found = results.filter((l) => l.startsWith(prefix));
      assert.ok(found.length >= 1, `docs/RESULTS.md has no line starting ${prefix}`);
      return found[0].split(" | ").map((c) => c.replace(/^\| /, ""));
    };
    const [p124m, p6x256, bart] = data.quality as [QualityPanel, QualityPanel, QualityPanel];
    // 6×256: "| method | W-E-A | differs | runs | test ppl, median | …"
    for (const q of p6x256.points) {
      const cells = line(`| ${q.method} | ${q.wea} | `);
      assert.equal(cells[3], String(q.runs), `${q.method} ${q.wea} runs`);
      assert.equal(cells[4], q.value.toFixed(2), `${q.method} ${q.wea} median`);
      assert.equal(cells[8], q.weightsMiB.toFixed(2), `${q.method} ${q.wea} model MB`);
    }
    assert.equal(line("| teacher | fp32 | ")[4], p6x256.teacher.value.toFixed(2));
    // 124M: "| method | W-E-A | runs | test ppl | × teacher (median) | …", inside the 124m markers
    const at = results.indexOf("<!-- 124m:begin -->");
    const section = results.slice(at, results.indexOf("<!-- 124m:end -->"));
    for (const q of p124m.points) {
      const row = section.find((l) => l.startsWith(`| ${q.method} | ${q.wea} | `))?.split(" | ");
      assert.ok(row !== undefined, `no 124M row for ${q.method} ${q.wea}`);
      assert.equal(row[2], String(q.runs));
      assert.equal(row[4], (q.value / p124m.teacher.value).toFixed(3), `${q.method} ${q.wea} × teacher`);
    }
    assert.ok(section.some((l) => l.includes(`(test ${p124m.teacher.value.toFixed(2)},`)), "the 124M teacher's test perplexity");
    // BART: "| W-E-A | method | R1 / R2 / RL … | R1 ÷ teacher | … | weights, ratio |"
    for (const q of bart.points) {
      const cells = line(`| ${q.wea} | ${q.method} | `);
      assert.equal(cells[2].split(" / ")[0], q.value.toFixed(2), `${q.method} ${q.wea} ROUGE-1`);
      assert.equal(cells[6].split(" MiB")[0], q.weightsMiB.toFixed(2), `${q.method} ${q.wea} weights`);
    }
    assert.equal(line("| 32-32-32 | teacher | ")[2].split(" / ")[0], bart.teacher.value.toFixed(2));
  });

  it("plots every quantized line of docs/RESULTS.md's method tables, no more", () => {
    const results = readFileSync(join(ROOT, "docs", "RESULTS.md"), "utf8").split("\n");
    const between = (from: string, to: string) => results.slice(results.indexOf(from), results.indexOf(to, results.indexOf(from)));
    const setting = String.raw`(2-2-8|4-4-8|8-8-8)`;
    const small = between("## Method × bit setting", "## Every run").filter((l) => new RegExp(String.raw`^\| [\w-]+ \| ${setting} \| `).test(l));
    const big = between("<!-- 124m:begin -->", "<!-- 124m:end -->").filter((l) => new RegExp(String.raw`^\| [\w-]+ \| ${setting} \| `).test(l)); // variants have "(…)" after the method
    const bart = between("<!-- bart:begin -->", "### Goals, as measured").filter((l) => new RegExp(String.raw`^\| ${setting} \| [\w-]+ \| `).test(l));
    assert.deepEqual(data.quality.map((p) => p.points.length), [big.length, small.length, bart.length]);
    assert.equal(panelItems(svgs["quality_vs_bits.svg"], "points").length, big.length + small.length + bart.length);
  });

  it("the XML reader refuses what is not well-formed", () => {
    for (const bad of ["<svg><g></svg>", "<svg><g></g>", "<svg a=1></svg>", "<svg>a < b</svg>", "<svg>R&D</svg>", "<svg a=\"1\" a=\"2\"/>", "<svg/><svg/>"]) {
      assert.throws(() => parseXml(bad), Error, bad);
    }
    assert.equal(parseXml("<svg a=\"1\"><g class=\"x\"><path d=\"M0\"/></g>&amp;</svg>").children[0].children.length, 1);
  });
});

describe("plots on bad input", () => {
  /** A copy of the inputs under a fresh root, for one test to break. */
  function copyInputs(): string {
    const root = tempDir("lowbit-plots-in-");
    for (const rel of Object.values(INPUTS)) {
      mkdirSync(dirname(join(root, rel)), { recursive: true });
      cpSync(join(ROOT, rel), join(root, rel));
    }
    return root;
  }

  it("a missing input: exit 1, one error line naming the file, no plot written", () => {
    const root = copyInputs();
    rmSync(join(root, INPUTS.generate));
    const out = join(root, "out");
    const r = runPlots(["--root", root, "--out", out]);
    assert.equal(r.status, 1);
    const lines = r.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.equal(lines[0], `plots: error: ${join(root, INPUTS.generate)}: cannot read results file, found ENOENT`);
    assert.equal(existsSync(out) ? readdirSync(out).length : 0, 0);
  });

  it("malformed JSON or a field of the wrong kind: one line naming the file and the field", () => {
    const root = copyInputs();
    const file = join(root, INPUTS.training124m);
    writeFileSync(file, "{\"teacher\": \"teacher-124m\",");
    assert.throws(() => plotData(root), (err: unknown) => err instanceof LowbitError && !err.message.includes("\n") &&
      err.message.startsWith(`${file}: results file is not valid JSON, found `));
    cpSync(join(ROOT, INPUTS.training124m), file);

    const generate = join(root, INPUTS.generate);
    const g = JSON.parse(readFileSync(generate, "utf8")) as { rows: { decode: { tokens_per_s: unknown } }[] };
    g.rows[0].decode.tokens_per_s = "fast";
    writeFileSync(generate, JSON.stringify(g));
    assert.throws(() => plotData(root), (err: unknown) => err instanceof LowbitError &&
      err.message === `${generate}: bad value for rows.0.decode.tokens_per_s; expected a number in (0, Infinity], found "fast"`);

    const bart = join(root, INPUTS.bartTraining);
    const b = JSON.parse(readFileSync(bart, "utf8")) as { runs: { method: string }[] };
    b.runs[1].method = "mystery";
    writeFileSync(bart, JSON.stringify(b));
    cpSync(join(ROOT, INPUTS.generate), generate);
    assert.throws(() => plotData(root), (err: unknown) => err instanceof LowbitError && err.message.startsWith(`${bart}: method mystery has no colour;`));
  });
});
