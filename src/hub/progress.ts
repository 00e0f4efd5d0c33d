// The command line's download progress bar: bytes of the whole download on stderr, with the file under way.
// cli-progress draws nothing when stderr is not a terminal, so logs, pipes and tests stay quiet.

import cliProgress from "cli-progress";
import type { DownloadProgress } from "./download.js";

const MIB = 2 ** 20;

/** A bar to pass as `onProgress`, and stop() for when the download ends (either way). */
export function downloadProgressBar(label = "downloading"): { update: DownloadProgress; stop: () => void } {
  const bar = new cliProgress.SingleBar({
    format: `${label} [{bar}] {percentage}% {value}/{total} MiB {file}`,
    formatValue: (value, _options, type) => (type === "value" || type === "total" ? (value / MIB).toFixed(1) : String(value)),
    stream: process.stderr,
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total, file) => {
      if (!started) {
        bar.start(total, done, { file });
        started = true;
      }
      bar.update(done, { file });
    },
    stop: () => {
      if (started) bar.stop();
      started = false;
    },
  };
}
