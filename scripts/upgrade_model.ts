// Rewrites a lowbit ONNX file of format version 1 as version 2: the same graph, weights and metadata, plus
// the `lowbit.checksum` that version 2 adds. For files whose checkpoint is gone (how models/*.onnx were
// brought to version 2); with the checkpoint at hand, `lowbit export` again does the same.
//
//   npx tsx scripts/upgrade_model.ts models/quantgpt-228.onnx [-o out.onnx]   (default: in place, atomically)

import { Command } from "commander";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { encodeSealed } from "../src/export/export.js";
import { LOWBIT_ONNX_VERSION, META, parseModelFile, verifyChecksum } from "../src/format/lowbit_onnx.js";
import { readBytes } from "../src/format/node_io.js";

const program = new Command("upgrade_model").argument("<file>").option("-o, --output <file>").parse();
const path = program.args[0];
const out = (program.opts() as { output?: string }).output ?? path;
const f = parseModelFile(readBytes(path), path);
if (f.formatVersion === LOWBIT_ONNX_VERSION) {
  console.log(`${path}: already version ${LOWBIT_ONNX_VERSION}`);
} else {
  const metadata = new Map(f.metadata).set(META.formatVersion, String(LOWBIT_ONNX_VERSION));
  writeFileAtomic(out, encodeSealed(f.model, metadata));
  // Read it back through the validating reader before calling it done.
  const check = parseModelFile(readBytes(out), out);
  await verifyChecksum(check);
  console.log(`${out}: version ${check.formatVersion}, ${check.metadata.get(META.checksum)}`);
}
