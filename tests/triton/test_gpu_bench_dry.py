"""bench/gpu_bench.py's dry run: every case runs on cuda at tiny shapes and matches torch.

The GPU bench is the one script a lent GPU runs once; this is what keeps it from
failing there on a case nobody ran: each row must run without error, with the
forward (and, for fwd+bwd rows, the first input's gradient) close to torch's float64.
"""
import json

import pytest

from bench import gpu_bench

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

# Relative to the largest reference value: float32 rounding, and a few float16 ulps.
BOUNDS = {"float32": 1e-5, "float16": 8e-3}


def test_every_bench_case_runs_and_matches_torch(tmp_path, capsys):
    assert gpu_bench.main(["--out", str(tmp_path), "--dry"]) == 0
    rows = json.loads((tmp_path / "gpu_bench.json").read_text())["rows"]
    assert len(rows) == len(gpu_bench._cases())
    for row in rows:
        assert "error" not in row, row
        for key in ("max_rel_err", "grad_max_rel_err"):
            if key in row:
                assert row[key] <= BOUNDS[row["dtype"]], (row["op"], key, row[key])
    assert "| attention D128 causal fwd+bwd | fwd+bwd |" in (tmp_path / "gpu_bench.md").read_text()
