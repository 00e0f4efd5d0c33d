// Preloaded into a CLI child process (`node --import ./count_stdout_writes.js …`) by test/cli/stdout.test.ts:
// counts the process's non-empty writes to stdout, failed ones included, and writes the count to the file
// named by $LOWBIT_TEST_WRITES when the process exits. Plain JS, as it loads before tsx.

import { writeFileSync } from "node:fs";

let writes = 0;
const write = process.stdout.write;
process.stdout.write = function (chunk, ...rest) {
  if (chunk.length > 0) writes++;
  return write.call(this, chunk, ...rest);
};
process.on("exit", () => writeFileSync(process.env.LOWBIT_TEST_WRITES, String(writes)));
