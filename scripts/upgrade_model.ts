// Rewrites a lowbit ONNX file of format version 1 as version 2: the same graph, weights and metadata, plus
// the `lowbit.checksum` that version 2 adds. For files whose checkpoint is gone (how models/*.onnx were
// brought to version 2); with the checkpoint at hand, `lowbit export` again does the same.
//
//   npx tsx scripts/upgrade_model.ts models/quantgpt-228.onnx [-o out.onnx]   (default: in place, atomically)

import { createHash } from "node:crypto";
import { Command } from "commander";
import { writeFileAtomic } from "../src/export/atomic_write.js";
import { CHECKSUM_PLACEHOLDER, LOWBIT_ONNX_VERSION, META, parseModelFile, sealChecksum, verifyChecksum } from "../src/format/lowbit_onnx.js";
import { readBytes } from "../src/format/node_io.js";
import { encodeModel } from "../src/format/onnx_proto.js";

const program = new Command("upgrade_model").argument("<file>").option("-o, --output <file>").parse();
const path = program.args[0];
const out = (program.opts() as { output?: string }).output ?? path;
const f = parseModelFile(readBytes(path), path);
if (f.formatVersion === LOWBIT_ONNX_VERSION) {
  console.log(`${path}: already version ${LOWBIT_ONNX_VERSION}`);
} else {
  const metadata = new Map(f.metadata);
  metadata.set(META.formatVersion, String(LOWBIT_ONNX_VERSION));
  metadata.delete(META.checksum);
  metadata.set(META.checksum, CHECKSUM_PLACEHOLDER); // last, as the exporter writes it
  f.model.metadataProps = [...metadata].map(([key, value]) => ({ key, value }));
  const bytes = encodeModel(f.model);
  sealChecksum(bytes, (data) => createHash("sha256").update(data).digest());
  writeFileAtomic(out, bytes);
  // Read it back through the validating reader before calling it done.
  const check = parseModelFile(readBytes(out), out);
  await verifyChecksum(check);
  console.log(`${out}: version ${check.formatVersion}, ${check.metadata.get(META.checksum)}`);
}
