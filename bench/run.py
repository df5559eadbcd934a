"""Op benchmark: every case in bench/ops.py, engine vs torch, in one process.

    python -m bench                      # all cases, 1 thread
    python -m bench --threads 2          # both libraries pinned to 2 threads
    python -m bench --filter softmax     # only cases whose name contains "softmax"
    python -m bench --quick              # a few tiny samples per case (smoke test)

How a case is timed (the machine is noisy, single timings can be 20x off):
1. First call, engine then torch, each timed alone: compile (Numba JIT) + run. It
   goes in its own column and never into the medians.
2. Calibrate an inner loop count per library so one sample lasts >= ~20 ms.
3. Round-robin: one engine sample, one torch sample, repeated (order flipped every
   round so neither always runs on a cache the other warmed); the reported time is
   the median per-call time of each side's samples.
Big cases cap their repeats (Case.max_repeats) and every case stops adding rounds
after CASE_BUDGET_S once it has 3, so a full run stays within a few minutes.
"""
import argparse
import gc
import math
import os
import statistics
import sys
import time
import traceback

from bench.common import pin_threads, write_result

# numpy, numba, torch and engine are imported inside functions, after pin_threads:
# OpenBLAS and Numba read their thread counts once, when first imported.

TARGET_SAMPLE_S = 0.020       # one sample (inner loop) lasts at least this long
CASE_BUDGET_S = 12.0          # after this, a case stops adding rounds (keeping >= 3)
MIN_ROUNDS = 3
QUICK = dict(repeats=2, target_sample_s=0.001, case_budget_s=0.5)

COLUMNS = ("op", "shape", "dtype", "direction", "engine median ms", "torch median ms",
           "ratio (torch/engine)", "engine GFLOP/s or GB/s", "max abs error vs torch",
           "first call ms")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for both engine (numba) and torch (default 1)")
    parser.add_argument("--repeats", type=int, default=15,
                        help="round-robin rounds per case, before per-case caps (default 15)")
    parser.add_argument("--filter", default="", metavar="SUBSTRING",
                        help="run only cases whose name (op shape dtype direction) contains it")
    parser.add_argument("--quick", action="store_true",
                        help="tiny repeats and samples: checks that every case runs, times nothing")
    return parser.parse_args(argv)


# ---- one library's side of a case ------------------------------------------------------

class Side:
    """One library's tensors for a case and a `call()` that runs the case once.

    Forward cases call fn(*tensors). Backward cases also clear the leaves' .grad (so
    every call does the same work, no accumulation) and run .backward(upstream).
    """

    def __init__(self, lib, fn, arrays, backward):
        self.lib, self.fn, self.backward = lib, fn, backward
        self.tensors = [self._tensor(a, backward and a.dtype.kind == "f") for a in arrays]
        self.leaves = [t for t in self.tensors if t.requires_grad]
        self.upstream = None
        self.checked = None     # what the first call computed, in float64 (first_call)

    def _tensor(self, array, requires_grad):
        # A private copy: the two libraries never share a buffer.
        t = self.lib.from_numpy(array.copy())
        return t.requires_grad_() if requires_grad else t

    def set_upstream(self, array):
        self.upstream = self.lib.from_numpy(array.copy())

    def call(self):
        if not self.backward:
            return self.fn(*self.tensors)
        for t in self.leaves:
            t.grad = None
        out = self.fn(*self.tensors)
        out.backward(self.upstream)
        return out

    def first_call(self):
        """Time the very first call (compile + run); keep what it computed for checking."""
        start = time.perf_counter()
        out = self.call()
        elapsed = time.perf_counter() - start
        self.checked = ([_host(out)] if not self.backward
                        else [_host(t.grad) for t in self.leaves])
        return elapsed

    def sample(self, inner):
        """Seconds per call, averaged over `inner` back-to-back calls (GC paused, as timeit)."""
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for _ in range(inner):
                self.call()
            return (time.perf_counter() - start) / inner
        finally:
            if gc_was_on:
                gc.enable()


def _host(t):
    import numpy as np
    t = t.detach() if hasattr(t, "detach") else t
    return np.asarray(t.numpy(), dtype=np.float64)


def _inner_count(side, target_s):
    """Calls per sample so one sample lasts >= target_s (best of two probes: noise)."""
    per_call = side.sample(1)
    if per_call < target_s:     # a slow call is its own sample; spare it a second probe
        per_call = min(per_call, side.sample(1))
    return max(1, min(100_000, math.ceil(target_s / max(per_call, 1e-9))))


def max_abs_error(engine_arrays, torch_arrays):
    import numpy as np
    return max(float(np.max(np.abs(e - t), initial=0.0))
               for e, t in zip(engine_arrays, torch_arrays))


def run_case(case, repeats, target_sample_s, case_budget_s, seed=0):
    """Time one case; return its result row (a dict, times in ms)."""
    import numpy as np
    import torch

    import engine as eg

    rng = np.random.default_rng(seed)
    arrays = case.make(rng)
    engine = Side(eg, case.engine_fn, arrays, case.backward)
    twin = Side(torch, case.torch_fn, arrays, case.backward)
    if case.backward:
        # Probe the output shape with torch (no graph), so the engine's first call
        # stays its first. The upstream gradient is random, not ones.
        with torch.no_grad():
            out_shape = tuple(case.torch_fn(*twin.tensors).shape)
        upstream = rng.standard_normal(out_shape).astype(arrays[0].dtype)
        engine.set_upstream(upstream)
        twin.set_upstream(upstream)

    engine_first = engine.first_call()
    torch_first = twin.first_call()
    error = max_abs_error(engine.checked, twin.checked)

    inner = {side: _inner_count(side, target_sample_s) for side in (engine, twin)}
    rounds = min(repeats, case.max_repeats or repeats)
    samples = {engine: [], twin: []}
    start = time.perf_counter()
    for r in range(rounds):
        for side in ((engine, twin) if r % 2 == 0 else (twin, engine)):
            samples[side].append(side.sample(inner[side]))
        if r + 1 >= MIN_ROUNDS and time.perf_counter() - start > case_budget_s:
            break

    engine_s = statistics.median(samples[engine])
    torch_s = statistics.median(samples[twin])
    return {
        "op": case.op, "shape": case.shape_text, "dtype": case.dtype,
        "direction": case.direction,
        "engine_ms": engine_s * 1e3, "torch_ms": torch_s * 1e3, "ratio": torch_s / engine_s,
        "throughput": case.work / engine_s / 1e9, "unit": case.unit, "work": case.work,
        "max_abs_error": error,
        "engine_first_call_ms": engine_first * 1e3, "torch_first_call_ms": torch_first * 1e3,
        "rounds": len(samples[engine]),
        "inner": {"engine": inner[engine], "torch": inner[twin]},
        "engine_samples_ms": [round(s * 1e3, 4) for s in samples[engine]],
        "torch_samples_ms": [round(s * 1e3, 4) for s in samples[twin]],
    }


# ---- the table ---------------------------------------------------------------------

def _ms(x):
    return f"{x:.3f}" if x < 10 else f"{x:.1f}"


def format_row(row):
    if "error" in row:
        failure = "failed: " + row["error"].replace("|", "\\|")
        cells = [row["op"], row["shape"], row["dtype"], row["direction"]]
        return "| " + " | ".join(cells + ["—"] * (len(COLUMNS) - 5) + [failure]) + " |"
    cells = [row["op"], row["shape"], row["dtype"], row["direction"],
             _ms(row["engine_ms"]), _ms(row["torch_ms"]), f"{row['ratio']:.2f}",
             f"{row['throughput']:.1f} {row['unit']}", f"{row['max_abs_error']:.1e}",
             _ms(row["engine_first_call_ms"])]
    return "| " + " | ".join(cells) + " |"


def format_table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if i < 4 else "---:" for i in range(len(COLUMNS))) + "|"]
    return "\n".join(lines + [format_row(r) for r in rows])


# ---- entry point ---------------------------------------------------------------------

def main(argv=None, cases=None):
    """Run the bench; return (markdown table, path of the JSON file, any case failed).

    `cases` replaces bench.ops.CASES (the smoke test passes one tiny case).
    """
    args = parse_args(argv)
    pin_threads(args.threads)       # before engine (and so numba kernels) is imported

    import numba
    import numpy as np
    import torch

    import engine as eg
    from engine import dispatch

    # A quick, filtered or custom-case run must not overwrite the full run's file.
    partial = args.quick or bool(args.filter) or cases is not None
    if cases is None:
        from bench.ops import CASES as cases
    selected = [c for c in cases if args.filter.lower() in c.name.lower()]
    if not selected:
        raise SystemExit(f"bench: no case matches --filter {args.filter!r}")
    settings = dict(QUICK) if args.quick else dict(
        repeats=args.repeats, target_sample_s=TARGET_SAMPLE_S, case_budget_s=CASE_BUDGET_S)
    if args.quick:
        settings["repeats"] = min(settings["repeats"], args.repeats)

    backend = dispatch.kernels_for("cpu").backend
    runtime = "compiled" if eg.extension_compiled() else "interpreted"
    threads = {"engine (numba)": numba.get_num_threads(), "torch": torch.get_num_threads()}
    print(f"engine backend {backend} ({runtime} runtime) vs torch {torch.__version__}; "
          f"threads: " + ", ".join(f"{k} {v}" for k, v in threads.items())
          + f"; {settings['repeats']} rounds max" + (" (quick)" if args.quick else ""),
          file=sys.stderr)

    load_before = os.getloadavg()
    rows, started = [], time.perf_counter()
    for case in selected:
        print(f"  {case.name} ...", file=sys.stderr, flush=True)
        try:
            rows.append(run_case(case, **settings))
        except Exception as exc:     # one broken op must not hide the others' numbers
            traceback.print_exc(file=sys.stderr)
            rows.append({"op": case.op, "shape": case.shape_text, "dtype": case.dtype,
                         "direction": case.direction,
                         "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"})
    total_s = time.perf_counter() - started
    load_after = os.getloadavg()

    table = format_table(rows)
    print(table)
    print(f"\nbackend {backend}, {args.threads} thread(s), total {total_s:.0f} s, "
          f"load average {load_before[0]:.2f} before / {load_after[0]:.2f} after on "
          f"{os.cpu_count()} CPUs. ratio = torch ms / engine ms (> 1: engine faster).")
    name = f"ops_{args.threads}t" + ("_partial" if partial else "")
    path = write_result(name, {
        "backend": backend, "runtime": runtime, "threads": args.threads,
        "threads_in_force": threads, "torch": torch.__version__, "numba": numba.__version__,
        "numpy": np.__version__, "quick": args.quick, "filter": args.filter,
        "settings": settings, "total_s": total_s, "cpus": os.cpu_count(),
        "load_average_before": load_before, "load_average_after": load_after,
        "columns": list(COLUMNS), "cases": rows,
    })
    print(f"wrote {path}", file=sys.stderr)
    failed = [r for r in rows if "error" in r]
    if failed:
        print(f"bench: {len(failed)} case(s) failed", file=sys.stderr)
    return table, path, bool(failed)
