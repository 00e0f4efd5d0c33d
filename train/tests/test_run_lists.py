"""Every line of the committed GPU run lists (train/runs_*.txt, read by train/gpu_run.sh) parses as a
TrainConfig (runs_bart_*.txt: a BartTrainConfig), so a typo in a key fails here rather than minutes into a
device call."""

import glob
import os
import shlex

import pytest

from lowbit_train.config import load_config
from lowbit_train.train import METHODS, TrainConfig
from lowbit_train.train_bart import BART_METHODS, BartTrainConfig

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RUN_LISTS = sorted(glob.glob(os.path.join(ROOT, "train", "runs_*.txt")))


def run_lines(path):
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip() and not line.startswith("#"):
                yield number, shlex.split(line)


def test_there_are_run_lists():
    assert len(RUN_LISTS) >= 4


@pytest.mark.parametrize("path", RUN_LISTS, ids=os.path.basename)
def test_every_run_line_parses(path):
    names = set()
    for number, (name, *args) in run_lines(path):
        assert name not in names, f"{path}:{number}: run {name} twice"
        names.add(name)
        args = [a for a in args if not a.startswith("nproc=")]  # gpu_run.sh's own: torchrun's process count
        configs = [a.split("=", 1)[1] for a in args if a.startswith("--config=")]
        overrides = [a for a in args if not a.startswith("--config=")] + [f"--out_dir=runs/{name}"]
        bart = os.path.basename(path).startswith("runs_bart_")
        cfg = load_config(BartTrainConfig if bart else TrainConfig, os.path.join(ROOT, configs[0]) if configs else None, overrides)
        assert cfg.method in (BART_METHODS if bart else METHODS), f"{path}:{number}: unknown method {cfg.method}"
