"""Test setup: the repository root on sys.path, one torch thread, and fixed seeds.

Every test starts from the same seeds (numpy, torch, engine), so a failure seen once
is seen again, in any order and under pytest-xdist.
"""
import pathlib
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import engine as eg  # noqa: E402

# torch on one thread: the comparison is about values, and two xdist workers on two
# cores must not oversubscribe them.
torch.set_num_threads(1)

SEED = 0


@pytest.fixture(autouse=True)
def _seed_everything():
    np.random.seed(SEED)
    torch.manual_seed(SEED)
    eg.manual_seed(SEED)
    yield
