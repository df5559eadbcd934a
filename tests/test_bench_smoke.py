"""The op bench runs end to end: table columns and JSON file. Speed is never asserted."""
import json

import numpy as np
import pytest

from bench import common, run
from bench.ops import Case, inputs, randn


@pytest.fixture
def results_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_RESULTS_DIR", str(tmp_path))
    # pin_threads writes these into os.environ; let monkeypatch restore them afterwards.
    for var in common.THREAD_VARS:
        monkeypatch.setenv(var, "1")
    import numba
    import torch
    before = torch.get_num_threads(), numba.get_num_threads()
    yield tmp_path
    torch.set_num_threads(before[0])
    numba.set_num_threads(before[1])


TINY = [
    Case("tanh", (3, 5), inputs(randn(3, 5)), lambda x: x.tanh(), lambda x: x.tanh(),
         bytes=2 * 15 * 4, backward=True),
    Case("tanh", (3, 5), inputs(randn(3, 5)), lambda x: x.tanh(), lambda x: x.tanh(),
         bytes=2 * 15 * 4),
]


def test_bench_runs_one_tiny_case(results_dir, capsys):
    table, path, failed = run.main(["--quick", "--threads", "1", "--filter", "fwd+bwd"],
                                   cases=TINY)
    assert not failed
    header, _, *rows = table.splitlines()
    assert [c.strip() for c in header.strip("|").split("|")] == list(run.COLUMNS)
    assert len(rows) == 1 and "fwd+bwd" in rows[0]
    assert table in capsys.readouterr().out

    assert path.parent == results_dir and path.name == "ops_1t_partial.json"
    result = json.loads(path.read_text())
    (case,) = result["cases"]
    assert case["op"] == "tanh" and case["direction"] == "fwd+bwd" and case["unit"] == "GB/s"
    assert case["engine_ms"] > 0 and case["torch_ms"] > 0
    assert case["max_abs_error"] < 1e-5
    assert result["threads"] == 1


def test_every_case_is_well_formed():
    from bench.ops import CASES
    for case in CASES:
        assert (case.flops is None) != (case.bytes is None), case.name
        arrays = case.make(np.random.default_rng(0))
        assert all(isinstance(a, np.ndarray) for a in arrays), case.name
