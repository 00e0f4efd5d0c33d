"""Makes `import lowbit_train` work when pytest runs from the repository root (train/ is not installed)."""

import os
import sys

TRAIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if TRAIN_DIR not in sys.path:
    sys.path.insert(0, TRAIN_DIR)
