#!/usr/bin/env bash
# Issue 12's GPU pipeline in one detached job: the teachers (train/runs_124m_teachers.txt), the pick of the best
# one by validation perplexity, the method grid on it (train/runs_124m_grid.txt, one run per GPU, with a deadline), then
# what comes back: metrics and logs of every run (no weights) and the best 2-2-8 student packed at its bit
# width (lowbit_train.transport), split into 15 MB parts, all in $RESULT (default /tmp/result).
#
#   setsid bash train/run_124m.sh > /tmp/pipeline.log 2>&1 &     # on the GPU machine, data/corpus/*.bin carried
#   echo 900 > runs/grid_deadline                                # optional, from a later call: the grid's deadline (s)
#   cat /tmp/result/best228.lbpack.part-* > best228.lbpack       # here, then: python3 -m lowbit_train.transport unpack …
#   RUN_ARGS='--device=cpu --max_steps=3 …' RESULT=/tmp/dry bash train/run_124m.sh   # a CPU dry run (gpu_run.sh)
#
# The teacher's weights stay on that machine (250 MB in fp16: more than a call returns, and more than the
# repository's working tree may hold); its metrics, curve and config come back.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=train PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
result=${RESULT:-/tmp/result}
mkdir -p runs "$result"
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
[ "${gpus:-0}" -gt 0 ] || gpus=1
second=$(( gpus > 1 ? 1 : 0 ))  # one GPU: the smaller teachers share it with the big one
export OMP_NUM_THREADS=$(( $(nproc) / 4 > 0 ? $(nproc) / 4 : 1 ))

# teacher_run LINE: one line of the teacher list on the GPU in $CUDA_VISIBLE_DEVICES
teacher_run() {
  local name=${1%% *} args=${1#* }
  echo "=== $(date +%T) $name on GPU $CUDA_VISIBLE_DEVICES"
  # shellcheck disable=SC2086
  "$python" -m lowbit_train.train $args --out_dir="runs/$name" --progress=false ${RUN_ARGS:-} > "runs/$name.log" 2>&1 \
    || echo "run $name FAILED"
  echo "--- $(date +%T) $name: $(tail -n 1 "runs/$name.log")"
}
mapfile -t teachers < <(grep -v '^#' train/runs_124m_teachers.txt | grep .)
SECONDS=0
CUDA_VISIBLE_DEVICES=0 teacher_run "${teachers[0]}" &
( for line in "${teachers[@]:1}"; do CUDA_VISIBLE_DEVICES=$second teacher_run "$line"; done ) &
wait
echo "teachers done in ${SECONDS}s"

# The teacher: the lowest validation perplexity (evaluated the same way for every shape).
"$python" - <<'PY'
import glob, json, os
scores = {}
for path in glob.glob("runs/teacher-*/metrics.json"):
    m = json.load(open(path))
    scores[os.path.basename(os.path.dirname(path))] = m["valid"]["perplexity"]
    print(f"{path}: valid {m['valid']['perplexity']:.2f} test {m['test']['perplexity']:.2f} "
          f"test_v1 {m['test_v1']['perplexity']:.2f} steps {m['steps']} kept {m['kept']}")
best = min(scores, key=scores.get)
os.symlink(best, "runs/teacher-selected")
json.dump({"selected": best, "valid_perplexity": scores}, open("runs/teacher-selected.json", "w"), indent=1)
print(f"teacher: {best}")
PY
[ -s runs/grid_deadline ] || echo "${GRID_DEADLINE:-600}" > runs/grid_deadline
# One run per GPU: at this size four runs sharing one H200 ran at 22-25k tokens/s each, 92k together, against
# 79-92k for one alone (docs/RESULTS.md), so sharing only delays the first results.
DEADLINE_FILE=runs/grid_deadline PACK=0 bash train/gpu_run.sh -j "$gpus" train/runs_124m_grid.txt
echo "grid done at ${SECONDS}s"

# What comes back: the best 2-2-8 student by validation perplexity, packed; metrics and logs of every run.
best=$("$python" - <<'PY'
import glob, json, os
best = None
for path in glob.glob("runs/*/metrics.json"):
    c = json.load(open(path))["config"]
    if (c["weight_bits"], c["embedding_bits"], c["activation_bits"]) == (2, 2, 8) and c["method"] != "pretrain":
        v = json.load(open(path))["valid"]["perplexity"]
        if best is None or v < best[0]:
            best = (v, os.path.dirname(path))
print(best[1] if best else "")
PY
)
if [ -n "$best" ]; then
  echo "best 2-2-8 student: $best"
  echo "$best" > runs/best228.txt
  "$python" -m lowbit_train.transport pack "$best/model" "$result/best228.lbpack"
  sha256sum "$result/best228.lbpack" > "$result/best228.lbpack.sha256"
  (cd "$result" && split -b 15M best228.lbpack best228.lbpack.part- && rm best228.lbpack)
fi
sha256sum runs/teacher-*/model/*.safetensors > runs/teacher-weights.sha256 || true
tar czf "$result/runs.tgz" --exclude='*.safetensors' --exclude='*.safetensors.*' --exclude='*/ckpt.pt' runs
ls -la "$result"
echo "pipeline done at ${SECONDS}s"
