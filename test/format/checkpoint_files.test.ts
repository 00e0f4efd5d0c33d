// Validators of the checkpoint-side formats (src/format/: config.json, safetensors, shard index, tokenizer
// files) through readCheckpoint, on damaged copies of the fixtures: each problem is one LowbitError naming
// the file and the field or tensor, never a TypeError, a RangeError or a long loop.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { assertRefused, copyCheckpoint, editJsonFile, editSafetensorsHeader } from "../helpers/checkpoint_edits.js";
import { fixtureDir, tempDir } from "../helpers/fixtures.js";

const copy = (name: string): string => copyCheckpoint(fixtureDir(name), name);
const refused = (dir: string, pattern: RegExp): void => assertRefused(dir, pattern);

describe("config.json", () => {
  it("refuses hostile values before building anything from them", () => {
    const dir = copy("tiny-f32");
    editJsonFile(join(dir, "config.json"), (c) => (c.n_layer = 1e12));
    refused(dir, /config\.json: bad value for n_layer; expected an integer in 1\.\.256, found 1000000000000/);
    writeFileSync(join(dir, "config.json"), "null");
    refused(dir, /config\.json: config\.json is not a JSON object/);
    writeFileSync(join(dir, "config.json"), "{\"n_layer\": 2,");
    refused(dir, /config\.json: config\.json is not valid JSON/);
  });

  it("names a missing directory as such", () => {
    refused(join(tempDir(), "nope"), /nope: no such directory; expected a checkpoint directory/);
  });
});

describe("safetensors", () => {
  const file = (dir: string) => join(dir, "model.safetensors");

  it("refuses null entries, bad metadata and offsets that do not tile the data block", () => {
    let dir = copy("tiny-f32");
    editSafetensorsHeader(file(dir), (h) => (h["transformer.wpe.weight"] = null));
    refused(dir, /model\.safetensors: bad value for transformer\.wpe\.weight; expected an entry \{dtype, shape, data_offsets\}, found null/);
    dir = copy("tiny-f32");
    editSafetensorsHeader(file(dir), (h) => (h.__metadata__ = { format: 1 }));
    refused(dir, /bad value for __metadata__\.format; expected a string, found 1/);
    dir = copy("tiny-f32");
    // Two tensors of one size swap nothing but point at the same bytes: an overlap.
    editSafetensorsHeader(file(dir), (h) => (h["transformer.h.0.ln_1.bias"].data_offsets = [...h["transformer.h.0.ln_1.weight"].data_offsets]));
    refused(dir, /tensor data overlaps another tensor's|gap in the data block/);
  });

  it("refuses non-finite weights", () => {
    const dir = copy("tiny-f32");
    const buf = readFileSync(file(dir));
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8"));
    const [begin] = header["transformer.ln_f.weight"].data_offsets;
    buf.writeFloatLE(Number.NaN, 8 + n + begin + 4 * 3);
    writeFileSync(file(dir), buf);
    refused(dir, /tensor transformer\.ln_f\.weight: tensor holds a non-finite value; expected finite numbers, found NaN at index 3/);
  });
});

describe("shard index", () => {
  const index = (dir: string) => join(dir, "model.safetensors.index.json");

  it("refuses a null weight_map, paths out of the directory, missing shards and misplaced tensors", () => {
    let dir = copy("tiny-f16");
    editJsonFile(index(dir), (x) => (x.weight_map = null));
    refused(dir, /model\.safetensors\.index\.json: bad value for weight_map; expected an object \{tensor name: shard file\}, found null/);
    dir = copy("tiny-f16");
    editJsonFile(index(dir), (x) => (x.weight_map["transformer.wte.weight"] = "../../etc/x.safetensors"));
    refused(dir, /bad value for weight_map\.transformer\.wte\.weight; expected a plain \*\.safetensors file name in the checkpoint directory/);
    dir = copy("tiny-f16");
    editJsonFile(index(dir), (x) => (x.weight_map["transformer.wte.weight"] = "model-00009-of-00009.safetensors"));
    refused(dir, /shard index names a missing shard/);
    dir = copy("tiny-f16");
    editJsonFile(index(dir), (x) => {
      const m = x.weight_map;
      const shards = [...new Set(Object.values(m))];
      m["transformer.wte.weight"] = shards.find((s) => s !== m["transformer.wte.weight"]);
    });
    refused(dir, /shard index puts a tensor in another shard|shard index names a tensor its shard does not hold/);
  });
});

describe("tokenizer files", () => {
  it("refuses a merges.txt cut at a line boundary", () => {
    const dir = copy("tiny-f32");
    const merges = readFileSync(join(dir, "merges.txt"), "utf8").split("\n");
    writeFileSync(join(dir, "merges.txt"), merges.slice(0, merges.length - 5).join("\n"));
    refused(dir, /merges\.txt: vocabulary entry that no merge produces \(merges\.txt cut short\?\)/);
  });
});
