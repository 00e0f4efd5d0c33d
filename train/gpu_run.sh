#!/usr/bin/env bash
# Runs training runs on the GPU machine one after another and packs what comes back into $OUT as
# ≤15 MiB parts (the device tool returns at most 8 files of 16 MiB). Each run is one line:
#   NAME [--key=value ...]      (configs: train/configs/*.json; see lowbit_train/train.py TrainConfig)
#
#   bash train/gpu_run.sh runs.txt      # then here: cat parts | tar xz
set -euo pipefail
export PYTHONPATH=train PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
out=${OUT:-/tmp/out}
mkdir -p runs "$out"
(nvidia-smi --query-gpu=name --format=csv,noheader || echo cpu) | tee runs/device.txt
while read -r name args; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  echo "=== $name $args"
  # shellcheck disable=SC2086
  ${PYTHON:-python3} -m lowbit_train.train $args --out_dir="runs/$name" --progress=false > "runs/$name.log" 2>&1 || echo "run $name FAILED"
  tail -n 6 "runs/$name.log"
  rm -f "runs/$name/ckpt.pt"  # optimizer state: not needed back here
done < "$1"
tar czf - --exclude="${EXCLUDE:-__none__}" runs | split -b 15M - "$out/runs.tgz.part-"
ls -la "$out"
