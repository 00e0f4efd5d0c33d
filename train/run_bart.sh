#!/usr/bin/env bash
# Issue 13's GPU pipeline in one detached job: transformers' generate() checked against the BART fixture, ROUGE
# golden cases from torchmetrics, the BART teacher (denoising pretraining, then fine-tuning on the lead task),
# the decoding settings tuned on valid for the teacher, the QuantBART method grid (train/runs_bart_grid.txt,
# under a deadline, side by side on the GPU), PyTorch's test summaries of every model (summarize_hf.py), then
# what comes back in $RESULT (default /tmp/result): results.tgz (metrics, logs, summaries, the fixture),
# quantized students packed at their bit width (lowbit_train.transport) and the teacher's fp16 checkpoint, in 15 MB parts.
#
#   setsid bash train/run_bart.sh > /tmp/pipeline.log 2>&1 &   # on the GPU machine; data/summarization carried
#   echo 900 > runs/bart_grid_deadline                          # optional, from a later call: the grid's deadline (s)
#   RUN_ARGS='--device=cpu --max_steps=3 …' RESULT=/tmp/dry bash train/run_bart.sh   # a CPU dry run
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=train PYTHONUNBUFFERED=1
python=${PYTHON:-python3}
result=${RESULT:-/tmp/result}
mkdir -p runs "$result"
SECONDS=0
stage() { echo "=== $(date +%T) [${SECONDS}s] $*"; }

stage "transformers' generate() against test/fixtures/bart/bart-f32"
"$python" -m lowbit_train.summarize_hf check --fixture test/fixtures/bart/bart-f32 > runs/hf_check.log 2>&1 || echo "hf check FAILED"
tail -n 3 runs/hf_check.log
stage "ROUGE golden cases (torchmetrics)"
"$python" scripts/make_rouge_cases.py --out runs/rouge_cases.json > runs/rouge_cases.log 2>&1 || echo "rouge cases FAILED"
tail -n 2 runs/rouge_cases.log

teacher_run() {  # NAME ARGS...
  local name=$1; shift
  stage "$name"
  # shellcheck disable=SC2086
  "$python" -m lowbit_train.train_bart "$@" --out_dir="runs/$name" --progress=false ${RUN_ARGS:-} > "runs/$name.log" 2>&1 || echo "run $name FAILED"
  tail -n 1 "runs/$name.log"
}
teacher_run bart-pretrain --config=train/configs/bart_pretrain.json
teacher_run bart-finetune --config=train/configs/bart_finetune.json

# The decoding settings: tuned once, for the teacher, on valid; every model is then summarized with them.
stage "tune decoding on valid (teacher), beside the grid"
"$python" -m lowbit_train.summarize_hf tune --model runs/bart-finetune/model --split valid --max-examples "${TUNE_EXAMPLES:-250}" \
  --out runs/bart-tuned.json > runs/bart-tune.log 2>&1 &
tune_pid=$!
[ -s runs/bart_grid_deadline ] || echo "${GRID_DEADLINE:-200}" > runs/bart_grid_deadline
# Five runs share the GPU: at this size (44M parameters) one run leaves most of an H200 idle.
TRAIN_MODULE=lowbit_train.train_bart DEADLINE_FILE=runs/bart_grid_deadline PACK=0 bash train/gpu_run.sh -j "${GRID_JOBS:-5}" train/runs_bart_grid.txt
wait $tune_pid || echo "tune FAILED"
tail -n 1 runs/bart-tune.log
stage "grid done"

stage "PyTorch's test summaries, four models at a time"
summarize_one() {
  "$python" -m lowbit_train.summarize_hf summarize --model "$1/model" --split test --settings runs/bart-tuned.json \
    --out "$1/summaries.test.json" > "$1.summaries.log" 2>&1 || echo "summaries of $1 FAILED"
  tail -n 1 "$1.summaries.log"
}
export -f summarize_one
export python
for dir in runs/bart-finetune runs/*-228* runs/*-448 runs/*-888; do
  if [ -f "$dir/model/config.json" ]; then echo "$dir"; fi
done | xargs -P 4 -I{} bash -c 'summarize_one {}'

stage "pack"
for name in quantbart-228-s1 quantbart-448 quantbart-888; do
  [ -f "runs/$name/model/config.json" ] || continue
  "$python" -m lowbit_train.transport pack "runs/$name/model" "$result/$name.lbpack"
done
# The teacher: its fp16 checkpoint as written (shards), each file cut into 15 MB .part-NN files (the readers take them).
mkdir -p "$result/teacher"
cp runs/bart-finetune/model/*.safetensors "$result/teacher/" || echo "teacher copy FAILED"
(cd runs/bart-finetune/model && tar czf "$result/teacher/meta.tgz" ./*.json merges.txt) || echo "teacher meta FAILED"
"$python" - "$result/teacher" <<'PY'
import glob, sys
from lowbit_train.safetensors_io import split_into_parts
for f in sorted(glob.glob(f"{sys.argv[1]}/*.safetensors")):
    print(split_into_parts(f, 15 * 2**20))
PY
(cd "$result" && sha256sum *.lbpack teacher/*) > runs/result.sha256 || true
tar czf "$result/results.tgz" --exclude='*.safetensors' --exclude='*.safetensors.*' --exclude='*/ckpt.pt' runs
(cd "$result" && for f in *.lbpack; do [ -e "$f" ] && split -b 15M "$f" "$f.part-" && rm "$f"; done; true)
ls -la "$result"
stage "pipeline done"
