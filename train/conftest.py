"""pytest set-up for the training stage's tests (train/tests/): their tmp_path folders go when the run ends.

pytest keeps the base temporary folders of its last three runs under $TMPDIR/pytest-of-<user>/, about 140 MB
each for train/tests. pytest >= 7.3 can be told not to (`tmp_path_retention_policy = "none"`), but Debian's
pytest is 7.2, which does not know that option and warns about it; this fixture works on every version,
through public API only. An explicit --basetemp is left alone: whoever passed it wants to look inside.
LOWBIT_KEEP_TEMP=1 keeps the folders too, as it does for the Node tests (test/helpers/fixtures.ts).
"""

import os
import shutil

import pytest


@pytest.fixture(scope="session", autouse=True)
def _remove_tmp_paths(request, tmp_path_factory):
    yield
    if request.config.getoption("basetemp") is None and os.environ.get("LOWBIT_KEEP_TEMP") != "1":
        shutil.rmtree(tmp_path_factory.getbasetemp(), ignore_errors=True)
