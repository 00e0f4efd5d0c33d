"""A pytest run over train/tests leaves no tmp_path folders behind (train/conftest.py removes them)."""

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_a_run_removes_its_tmp_path_folders(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # One cheap test that writes into tmp_path, in a pytest of its own whose temp root is `tmp`.
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{TESTS / 'test_safetensors.py'}::test_round_trip_every_dtype"],
        env={**os.environ, "TMPDIR": str(tmp), "LOWBIT_KEEP_TEMP": ""}, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    # pytest makes $TMPDIR/pytest-of-<user>/pytest-<N>/ for the run; a dangling `pytest-current` link may stay.
    left = [p for p in tmp.glob("pytest-of-*/*") if not p.is_symlink()]
    assert left == [], f"left behind: {left}"
