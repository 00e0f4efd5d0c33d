#!/usr/bin/env bash
# Runs training runs on the GPU machine, from run lists, and packs what comes back into $OUT as ≤15 MiB
# parts (the device tool returns at most 8 files of 16 MiB). A run list has one run per line:
#   NAME [nproc=N] [--key=value ...]   (configs: train/configs/*.json; keys: lowbit_train/train.py TrainConfig)
# nproc=N runs it under torchrun on N GPUs. Options, before each list they apply to:
#   -j N          run the list's single-GPU runs N at a time, dealt round-robin over the GPUs (nproc lines wait
#                 for a free machine); N above the GPU count shares them: with 2 runs per H100 each ran at
#                 68-81% of its speed alone (this model leaves a GPU mostly idle): 1.4-1.6x the throughput
#   --deadline S  start no run later than S seconds after this script began (runs left are listed as skipped)
# TRAIN_MODULE=lowbit_train.train_bart runs the lists with the BART loop (default: lowbit_train.train, GPT-2).
# EXCLUDE=PATTERN leaves matching paths out of the pack (EXCLUDE='*/model': metrics and logs only); PACK=0 packs
# nothing (a caller that packs itself). RUN_ARGS='--key=value …' is added to every run (a CPU dry run of a list:
# RUN_ARGS='--device=cpu --max_steps=3 --eval_tokens=2000 --test_tokens=2000'). DEADLINE_FILE=PATH: a number in that file, read before each run starts,
# replaces --deadline (so a long detached run can be cut short or given more time from another call).
#
#   bash train/gpu_run.sh -j 2 sweep.txt scaling.txt      # then here: cat $OUT/runs.tgz.part-* | tar xz
set -euo pipefail
export PYTHONPATH=train PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
out=${OUT:-/tmp/out}
python=${PYTHON:-python3}
mkdir -p runs "$out"
(nvidia-smi --query-gpu=name --format=csv,noheader || echo cpu) | tee runs/device.txt
gpus=$(nvidia-smi -L 2>/dev/null | wc -l || true)
[ "${gpus:-0}" -gt 0 ] || gpus=1
jobs=1
deadline=0
cores=$(nproc)

# one_run NAME GPU ARGS...: a run on GPU (or under torchrun when ARGS starts with nproc=N)
one_run() {
  local name=$1 gpu=$2; shift 2
  local launch=("$python" -m "${TRAIN_MODULE:-lowbit_train.train}")
  if [[ "${1:-}" == nproc=* ]]; then
    launch=(torchrun --standalone --nproc_per_node="${1#nproc=}" -m "${TRAIN_MODULE:-lowbit_train.train}")
    shift
  else
    export CUDA_VISIBLE_DEVICES=$gpu
  fi
  echo "=== $(date +%T) $name (${launch[0]}${CUDA_VISIBLE_DEVICES:+ on GPU $gpu}) $*"
  # shellcheck disable=SC2086
  "${launch[@]}" "$@" --out_dir="runs/$name" --progress=false ${RUN_ARGS:-} > "runs/$name.log" 2>&1 || echo "run $name FAILED"
  echo "--- $(date +%T) $name: $(tail -n 1 "runs/$name.log")"
  rm -f "runs/$name/ckpt.pt"  # optimizer state: not needed back here
}

past_deadline() {
  if [ -n "${DEADLINE_FILE:-}" ] && [ -s "$DEADLINE_FILE" ]; then deadline=$(cat "$DEADLINE_FILE"); fi
  [ "$deadline" -gt 0 ] && [ "$SECONDS" -ge "$deadline" ]
}

# run_queue GPU LINE...: the lines one after another on GPU
run_queue() {
  local gpu=$1 line; shift
  for line in "$@"; do
    # shellcheck disable=SC2086
    if past_deadline; then echo "skipped ${line%% *}: past the ${deadline}s deadline"; else one_run ${line%% *} "$gpu" ${line#* }; fi
  done
}

# run_list FILE: single-GPU runs dealt round-robin to $jobs queues (one GPU each) that run side by side;
# an nproc=N run waits for the queues before it and runs alone on the machine
run_list() {
  local name args line queued=() lines=() mine i k
  while read -r name args; do
    [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
    lines+=("$name $args")
  done < "$1"
  lines+=("__end__ nproc=0")
  for line in "${lines[@]}"; do
    if [[ "${line#* }" == nproc=* ]]; then
      for ((i = 0; i < jobs; i++)); do
        mine=()
        for ((k = i; k < ${#queued[@]}; k += jobs)); do mine+=("${queued[k]}"); done
        [ ${#mine[@]} -gt 0 ] && (unset CUDA_VISIBLE_DEVICES; run_queue $((i % gpus)) "${mine[@]}") &
      done
      wait
      queued=()
      [ "${line%% *}" = "__end__" ] && break
      # shellcheck disable=SC2086
      if past_deadline; then echo "skipped ${line%% *}: past the ${deadline}s deadline"; else (unset CUDA_VISIBLE_DEVICES; one_run ${line%% *} 0 ${line#* }); fi
    else
      queued+=("$line")
    fi
  done
}

while [ $# -gt 0 ]; do
  case "$1" in
    # N processes each spinning nproc OpenMP threads thrash the CPU side: give each its share
    -j) jobs=$2; export OMP_NUM_THREADS=$(( cores / $2 > 0 ? cores / $2 : 1 )); shift 2 ;;
    --deadline) deadline=$2; shift 2 ;;
    *) run_list "$1"; shift ;;
  esac
done
if [ "${PACK:-1}" != 0 ]; then
  tar czf - --exclude="${EXCLUDE:-__none__}" runs | split -b 15M - "$out/runs.tgz.part-"
  ls -la "$out"
fi
