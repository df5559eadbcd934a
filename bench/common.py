"""Shared bench plumbing: thread pinning and result files."""
import json
import os
import pathlib
import platform
import sys
import time

RESULTS = pathlib.Path(__file__).resolve().parent / "results"
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "NUMBA_NUM_THREADS")


def pin_threads(n):
    """Give numpy, numba and torch the same thread count (call before importing them).

    A library already imported keeps the pool it made; only its runtime setting
    changes (Numba refuses a new NUMBA_NUM_THREADS once its threads exist).
    """
    for var in THREAD_VARS:
        module = "numba" if var == "NUMBA_NUM_THREADS" else None
        if module is None or module not in sys.modules:
            os.environ[var] = str(n)
    import numba
    import torch
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def results_dir(directory=None):
    """Where result files go: `directory`, else $BENCH_RESULTS_DIR, else bench/results/."""
    return pathlib.Path(directory or os.environ.get("BENCH_RESULTS_DIR") or RESULTS)


def write_result(name, payload, directory=None):
    """Write `payload` (plus machine, Python version and date) to <results dir>/<name>.json."""
    folder = results_dir(directory)
    folder.mkdir(parents=True, exist_ok=True)
    payload = dict(payload, machine=platform.machine(), python=platform.python_version(),
                   date=time.strftime("%Y-%m-%d"))
    path = folder / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path
