"""Compile every Triton kernel the wrappers launch for an H100 (sm_90), without a GPU.

Why: CI runs kernels/triton/ under TRITON_INTERPRET=1, and the interpreter compiles
nothing: it runs each program's block with numpy. What only a compiler rejects
(tl.dot's shape and dtype rules, a float64 dot, mismatched tl.where branches, 64-bit
integer arithmetic, constexpr misuse, atomics' dtypes, shared memory past the
chip's limit) would first show on the one scarce GPU run. Triton's wheel ships
ptxas, so `triton.compile(ASTSource(...), target=GPUTarget("cuda", 90, 32))` builds
the cubin here, as the JIT would on an H100.

    python -m bench.compile_check [--out DIR] [--quick | --all-configs] [--jobs N]

1. record: a pytest session of tests/triton under the interpreter, with this module as
   a plugin (-p bench.compile_check). It wraps the interpreter's launch
   (InterpretedFunction.run) and keeps each distinct specialization as Triton's JIT
   would compute it on a GPU: pointer element types from the torch tensors, i32 or
   i64 by value, an int equal to 1 a constexpr, 16-divisibility of pointers and ints
   (compiled with the divisibility every launch had), the constexprs and num_warps.
   The registry samples run in float32 under the interpreter; the recording session
   runs them in float64 too (ENGINE_TRITON_DTYPES=all), so each dtype path is seen.
2. GPU blocks: the wrappers pick other blocks on a GPU than under the interpreter.
   The recording sets _launch's ELEMENTWISE_BLOCK / TILE_ELEMENTS to their GPU values;
   a kernel that a GPU autotunes (TUNED) takes its autotune list's configs on its
   tensor-core path (USE_DOT) and its module's fixed blocks on the no-dot path; the
   wrappers' other `if INTERPRET` choices are in GPU_BLOCKS.
3. compile: each distinct (kernel, signature, constexprs, num_warps, num_stages) in
   worker processes without TRITON_INTERPRET; the shared memory it needs is checked
   against the H100's per-block limit (what the launch checks). A config over that
   limit is pruned by the autotuner, not a failure, unless all of a record's are.

Autotune configs: by default every config for one record per kernel and set of
pointer dtypes, the smallest tile for the other records (every specialization and
every config compiles, not every pair: --all-configs does all pairs, about twice the
compiles). --quick compiles only one record per kernel and set of pointer dtypes,
autotuned kernels with their smallest tile (a larger one over the shared memory would
be pruned, not fail): what tests/triton/test_compile_sm90.py runs, on a lighter
workload.

Prints a table (kernel / specializations / compiles / ok / seconds) and exits 1 on a
failure; DIR keeps records.json, results.json (every compile, its error, registers,
spills, shared memory) and record.log.
"""
import argparse
import concurrent.futures
import contextlib
import inspect
import io
import json
import multiprocessing
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
TARGET = ("cuda", 90, 32)                 # H100: sm_90, 32-thread warps
MAX_SHARED = 232448                       # H100: 227 KiB of shared memory per block (opt-in)
RECORD_ENV = "COMPILE_CHECK_RECORD"       # set: this process records its launches there


# ---- 1. recording (runs inside the interpreted pytest session) ----------------------------
_current_test = [""]


def _constexpr_value(value):
    """A constexpr as JSON: tl.dtype values by name (restored in the compile worker)."""
    import triton.language as tl
    if isinstance(value, tl.constexpr):   # an op code (elementwise.ADD ...) passed as is
        value = value.value
    if isinstance(value, tl.dtype):
        return {"tl.dtype": value.name}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"constexpr of type {type(value).__name__}: {value!r}")


def _specialize(fn, arg_names, params, args, kwargs, backend):
    """(signature, constexprs, divisible, options) of one launch, as Triton's JIT binder
    computes them (triton/runtime/jit.py create_function_from_signature)."""
    from triton.runtime.jit import native_specialize_impl
    sig = inspect.signature(fn.fn)
    options = {k: kwargs.pop(k) for k in list(kwargs) if k not in arg_names}
    bound = sig.bind(*args, **kwargs)
    bound.apply_defaults()
    no_spec = set(fn.kwargs.get("do_not_specialize") or ())
    signature, constexprs, divisible = {}, {}, []
    for name, value in bound.arguments.items():
        annotation = params[name].annotation
        if annotation is not inspect.Parameter.empty and "constexpr" in str(annotation):
            signature[name] = "constexpr"
            constexprs[name] = _constexpr_value(value)
            continue
        kind, attr = native_specialize_impl(backend, value, False, name not in no_spec, True)
        signature[name] = kind
        if kind == "constexpr":           # an int equal to 1 (or None)
            constexprs[name] = value
        elif attr == "D":
            divisible.append(name)
    keep = {k: options[k] for k in ("num_warps", "num_stages") if k in options}
    return signature, constexprs, divisible, keep


@contextlib.contextmanager
def recording():
    """Record the kernel launches inside the block (under TRITON_INTERPRET=1), with the
    wrappers picking the GPU's block limits; yields the dict of records."""
    import triton.runtime.interpreter as interpreter
    from triton.backends.compiler import GPUTarget
    from triton.backends.nvidia.compiler import CUDABackend
    from kernels.triton import _launch
    backend = CUDABackend(GPUTarget(*TARGET))
    run = interpreter.InterpretedFunction.run
    records = {}

    def recording_run(self, *args, grid, warmup, **kwargs):
        params = inspect.signature(self.fn).parameters
        signature, constexprs, divisible, options = _specialize(
            self, self.arg_names, params, args, dict(kwargs), backend)
        kernel = f"{self.fn.__module__}:{self.fn.__qualname__}"
        key = json.dumps([kernel, signature, constexprs, options], sort_keys=True)
        entry = records.get(key)
        if entry is None:
            records[key] = {"kernel": kernel, "signature": signature, "constexprs": constexprs,
                            "options": options, "divisible": divisible, "launches": 1,
                            "test": _current_test[0]}
        else:                             # the divisibility every launch had
            entry["divisible"] = [d for d in entry["divisible"] if d in divisible]
            entry["launches"] += 1
        return run(self, *args, grid=grid, warmup=warmup, **kwargs)

    # The GPU's block limits (kernels/triton/_launch.py), so the wrappers pick the blocks a
    # GPU gets; the tests that shrink them still do (and so they do on a GPU).
    limits = _launch.ELEMENTWISE_BLOCK, _launch.TILE_ELEMENTS
    _launch.ELEMENTWISE_BLOCK, _launch.TILE_ELEMENTS = 1024, 4096
    interpreter.InterpretedFunction.run = recording_run
    try:
        yield records
    finally:
        interpreter.InterpretedFunction.run = run
        _launch.ELEMENTWISE_BLOCK, _launch.TILE_ELEMENTS = limits


_session = []                             # the plugin's recording() of the whole session


def pytest_configure(config):
    if os.environ.get(RECORD_ENV):
        context = recording()
        _session[:] = [context, context.__enter__()]


def pytest_runtest_setup(item):
    _current_test[0] = item.nodeid


def pytest_unconfigure(config):
    if _session:
        context, records = _session
        context.__exit__(None, None, None)
        path = pathlib.Path(os.environ[RECORD_ENV]) / f"record-{os.getpid()}.json"
        path.write_text(json.dumps(list(records.values())))


def record(out):
    """Run tests/triton under the interpreter with the recorder; -> merged records."""
    out = pathlib.Path(out)
    for old in out.glob("record-*.json"):
        old.unlink()
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT), ENGINE_TRITON_DTYPES="all")
    env[RECORD_ENV] = str(out)
    env.pop("ENGINE_TRITON_TESTS", None)
    workers = ["-n", "2"] if _has("xdist") else []
    # This file's own test starts this script: not again from inside.
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
           "bench.compile_check", *workers, str(ROOT / "tests" / "triton"),
           "--deselect", "tests/triton/test_compile_sm90.py"]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    (out / "record.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        # A failing test still recorded its launches; the test suite itself reports it.
        print(f"note: the recording session exited {proc.returncode} (see "
              f"{out / 'record.log'}):\n{proc.stdout[-1500:]}", file=sys.stderr)
    merged = {}
    for path in sorted(out.glob("record-*.json")):
        for entry in json.loads(path.read_text()):
            key = json.dumps([entry["kernel"], entry["signature"], entry["constexprs"],
                              entry["options"]], sort_keys=True)
            if key in merged:
                m = merged[key]
                m["divisible"] = [d for d in m["divisible"] if d in entry["divisible"]]
                m["launches"] += entry["launches"]
            else:
                merged[key] = entry
    records = sorted(merged.values(), key=lambda e: json.dumps(e, sort_keys=True))
    (out / "records.json").write_text(json.dumps(records, indent=1))
    return records


def _has(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


# ---- 2. GPU blocks --------------------------------------------------------------------------
# Kernels a GPU autotunes: the module attribute holding the triton.autotune object(s) (a
# dict for conv), and the fixed blocks of its no-dot path (float64, ints) on a GPU.
TUNED = {
    "matmul_kernel": ("matmul", "_tuned", "_SMALL"),
    "conv2d_forward_kernel": ("conv", "_TUNED.forward", "_SMALL"),
    "conv2d_backward_input_kernel": ("conv", "_TUNED.backward_input", "_SMALL"),
    "conv2d_backward_weight_kernel": ("conv", "_TUNED.backward_weight", "_SMALL"),
    "attention_forward_kernel": ("attention", "_forward_tuned", "_F64_BLOCKS"),
    "attention_backward_dkdv_kernel": ("attention", "_dkdv_tuned", "_F64_BLOCKS"),
    "attention_backward_dq_kernel": ("attention", "_dq_tuned", "_F64_BLOCKS"),
    "lstm_cell_forward_kernel": ("rnn", "_lstm_tuned", "_F64_BLOCKS"),
    "rnn_cell_forward_kernel": ("rnn", "_rnn_tuned", "_F64_BLOCKS"),
}


# The other wrappers' `if INTERPRET` block choices, as their GPU branch picks them (or its
# largest value where it depends on the GPU's SM count).
GPU_BLOCKS = {
    # attention.attention_backward: 64-row blocks on a GPU (128 in the interpreter)
    "attention_backward_preprocess_kernel": lambda c: {"BLOCK_M": min(c["BLOCK_M"], 64)},
    # rnn._pointwise_blocks: _POINTWISE_GPU
    "lstm_cell_backward_kernel": lambda c: {"BLOCK_B": 32, "BLOCK_H": 32},
    "rnn_cell_backward_kernel": lambda c: {"BLOCK_B": 32, "BLOCK_H": 32},
    # norm.layer_norm_backward: 128-column blocks; up to 4 programs per SM share them
    "norm_column_sum_kernel": lambda c: {"BLOCK_D": min(c["BLOCK_D"], 128),
                                         "BLOCK_P": 4096 // min(c["BLOCK_D"], 128)},
    # norm._channel_blocks: up to 1024 partial sums per channel on a GPU
    "batch_norm_stats_kernel": lambda c: {"BLOCK_S": 1024},
    "batch_norm_stats_finish_kernel": lambda c: {"BLOCK_S": 1024},
    "batch_norm_backward_sums_finish_kernel": lambda c: {"BLOCK_S": 1024},
}


def _modules():
    """kernels/triton/*.py imported as on a GPU (no TRITON_INTERPRET), without the package's
    __init__, whose device check wants a visible GPU."""
    import kernels
    if "kernels.triton" not in sys.modules:
        package = types.ModuleType("kernels.triton")
        package.__path__ = [str(ROOT / "kernels" / "triton")]
        sys.modules["kernels.triton"] = package
        kernels.triton = package
    import importlib
    return {p.stem: importlib.import_module(f"kernels.triton.{p.stem}")
            for p in sorted((ROOT / "kernels" / "triton").glob("*.py")) if p.stem != "__init__"}


def _check_tuned(modules):
    """Every triton.autotune object in kernels/triton/ is in TUNED (else its kernel would
    compile with the interpreter's blocks only)."""
    from triton.runtime.autotuner import Autotuner
    for module in modules.values():
        for value in vars(module).values():
            for tuner in value.values() if isinstance(value, dict) else [value]:
                if isinstance(tuner, Autotuner) and tuner.fn.__name__ not in TUNED:
                    raise SystemExit(f"{module.__name__}: {tuner.fn.__name__} is autotuned; "
                                     f"add it to TUNED in bench/compile_check.py")


def _lookup(module, dotted):
    value = module
    for part in dotted.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def jobs(records, mode="sweep"):
    """The compiles: each record with its GPU blocks, deduplicated. An autotuned kernel's
    configs: mode "all" every one for every record; "sweep" every one for the records
    quick_subset picks, the smallest tile (the quickest compile) for the others; "quick"
    (records already thinned by quick_subset) the smallest tile. Runs in a worker: it
    imports the kernel modules as on a GPU."""
    modules = _modules()
    _check_tuned(modules)
    representative = {id(r) for r in quick_subset(records)}
    out, seen = [], set()
    for spec, rec in enumerate(records):
        name = rec["kernel"].split(":")[1]
        variants = []                     # (constexprs overrides, options, label)
        cx = rec["constexprs"]
        if name in TUNED:
            module, tuned, small = TUNED[name]
            if cx.get("USE_DOT", True):
                configs = _lookup(modules[module], tuned).configs
                by_size = sorted(configs, key=lambda c: (_tile(c), c.num_stages))
                if mode == "quick" or (mode == "sweep" and id(rec) not in representative):
                    configs = by_size[:1]
                for c in configs:
                    label = "config " + ",".join(f"{k}={v}" for k, v in c.kwargs.items())
                    variants.append((dict(c.kwargs), {"num_warps": c.num_warps,
                                                      "num_stages": c.num_stages},
                                     label + f",w{c.num_warps},s{c.num_stages}"))
            else:
                variants.append((dict(_lookup(modules[module], small)), {}, "no-dot blocks"))
        elif name in GPU_BLOCKS:
            variants.append((GPU_BLOCKS[name](cx), {}, "GPU blocks"))
        else:
            variants.append(({}, {}, "as launched"))
        for overrides, options, label in variants:
            job = dict(rec, constexprs=dict(cx, **overrides),
                       options=dict(rec["options"], **options), variant=label,
                       autotuned=label.startswith("config"), spec=spec)
            key = json.dumps([job["kernel"], job["signature"], job["constexprs"],
                              job["options"]], sort_keys=True)
            if key not in seen:
                seen.add(key)
                out.append(job)
    return out


def _tile(config):
    size = 1
    for v in config.kwargs.values():
        size *= v if v > 8 else 1         # GROUP_M is no tile dim
    return size


def quick_subset(records):
    """One record per kernel and set of pointer element types (its float32, float64,
    float16 and integer paths, as launched): the one launched most often."""
    best = {}
    for rec in records:
        ptrs = sorted({t for t in rec["signature"].values() if t.startswith("*")})
        key = (rec["kernel"], *ptrs)
        if key not in best or rec["launches"] > best[key]["launches"]:
            best[key] = rec
    return list(best.values())


# ---- 3. compiling (worker processes, no TRITON_INTERPRET) ---------------------------------
def _worker_init():
    os.environ.pop("TRITON_INTERPRET", None)
    # FP fusion on: the JIT's default in Triton 3.9 (set, it stops warning each compile)
    os.environ.setdefault("TRITON_DEFAULT_FP_FUSION", "1")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def _ptxas_stats(log):
    regs = re.search(r"Used (\d+) registers", log)
    spills = re.search(r"(\d+) bytes spill stores", log)
    return (int(regs.group(1)) if regs else None, int(spills.group(1)) if spills else None)


def compile_one(job):
    """Compile one job for sm_90: -> dict(ok, seconds, shared, registers, spills, error)."""
    import triton
    import triton.language as tl
    from triton import knobs
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    module, qualname = job["kernel"].split(":")
    modules = _modules()
    fn = getattr(modules[module.rsplit(".", 1)[1]], qualname)
    names = list(job["signature"])
    constexprs = {}
    for name, value in job["constexprs"].items():
        if isinstance(value, dict) and "tl.dtype" in value:
            value = tl.dtype(value["tl.dtype"])
        constexprs[(names.index(name),)] = value
    attrs = {(names.index(n),): [["tt.divisibility", 16]] for n in job["divisible"]}
    result = {"ok": False, "shared": None, "registers": None, "spills": None, "error": None}
    start = time.perf_counter()
    log = io.StringIO()
    knobs.nvidia.dump_ptxas_log = True    # ptxas -v's register and spill counts
    try:
        with contextlib.redirect_stdout(log):
            kernel = triton.compile(ASTSource(fn, job["signature"], constexprs, attrs),
                                    target=GPUTarget(*TARGET), options=job["options"])
        result["shared"] = kernel.metadata.shared
        result["registers"], result["spills"] = _ptxas_stats(log.getvalue())
        if kernel.metadata.shared > MAX_SHARED:
            result["error"] = (f"needs {kernel.metadata.shared} bytes of shared memory, the "
                               f"H100 has {MAX_SHARED} per block (OutOfResources at launch)")
        else:
            result["ok"] = True
    except Exception as error:            # noqa: BLE001 - any compile error is the finding
        text = f"{type(error).__name__}: {error}"
        result["error"] = text[-3000:]
    result["seconds"] = time.perf_counter() - start
    return result


def _jobs_in_worker(records, mode):
    _worker_init()
    return jobs(records, mode)


def compile_all(records, mode="sweep", workers=2):
    os.environ.pop("TRITON_INTERPRET", None)
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx,
                                                initializer=_worker_init) as pool:
        todo = pool.submit(_jobs_in_worker, records, mode).result()
        # the slowest first (the large tiles), so two workers finish together
        todo.sort(key=lambda j: -_size_hint(j))
        results = list(pool.map(compile_one, todo))
    return [dict(job, **res) for job, res in zip(todo, results)]


def _size_hint(job):
    size = 1
    for name, value in job["constexprs"].items():
        if name.startswith("BLOCK") and isinstance(value, int):
            size *= value
    return size


# ---- report ---------------------------------------------------------------------------------
def report(results):
    """Per kernel: specializations (distinct recorded launches), compiles, failures."""
    by_kernel = {}
    for r in results:
        by_kernel.setdefault(r["kernel"].split(":")[1], []).append(r)
    failed_total = 0
    print(f"{'kernel':42} {'specs':>5} {'compiles':>8} {'ok':>4} {'pruned':>6} {'fail':>4} "
          f"{'max regs':>8} {'spill B':>7} {'seconds':>8}")
    for name in sorted(by_kernel):
        rows = by_kernel[name]
        specs = {r["spec"] for r in rows}
        # an autotune config over the limits is pruned: a failure only if all of a spec's are
        groups = {}
        for r in rows:
            groups.setdefault(r["spec"], []).append(r)
        pruned = fail = 0
        for group in groups.values():
            bad = [r for r in group if not r["ok"]]
            if group[0]["autotuned"] and len(bad) < len(group) and all(
                    "shared memory" in (r["error"] or "") for r in bad):
                pruned += len(bad)
                for r in bad:
                    r["pruned"] = True
            else:
                fail += len(bad)
        failed_total += fail
        # ptxas's counts: none where the kernel came from Triton's cache (DIR reused)
        regs = max((r["registers"] for r in rows if r["registers"] is not None), default="-")
        spills = max((r["spills"] for r in rows if r["spills"] is not None), default="-")
        secs = sum(r["seconds"] for r in rows)
        ok = sum(r["ok"] for r in rows)
        print(f"{name:42} {len(specs):5} {len(rows):8} {ok:4} {pruned:6} {fail:4} {regs:8} "
              f"{spills:7} {secs:8.1f}")
    for r in results:
        if not r["ok"] and not r.get("pruned"):
            seen = r['test'] or 'the workload'
            print(f"\nFAILED {r['kernel']} [{r['variant']}] (seen in {seen})\n"
                  f"  signature: {r['signature']}\n  constexprs: {r['constexprs']}\n"
                  f"  options: {r['options']}\n  {r['error']}")
    return failed_total


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", help="folder for records.json and results.json "
                                      "(default: a temporary one)")
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--quick", action="store_true",
                       help="one specialization per kernel and set of pointer dtypes, "
                            "autotuned kernels with their smallest tile")
    modes.add_argument("--all-configs", action="store_true",
                       help="every autotune config for every specialization (slow)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--records", help="reuse a records.json instead of recording")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="compile_check-"))
    out.mkdir(parents=True, exist_ok=True)
    # Triton's cache in DIR: a new DIR compiles everything (honest seconds), a reused one
    # only what changed.
    os.environ["TRITON_CACHE_DIR"] = str(out / "triton-cache")
    start = time.perf_counter()
    if args.records:
        records = json.loads(pathlib.Path(args.records).read_text())
    else:
        records = record(out)
    kernels = {r["kernel"] for r in records}
    print(f"{len(records)} specializations of {len(kernels)} kernels recorded "
          f"({time.perf_counter() - start:.0f} s)")
    mode = "quick" if args.quick else "all" if args.all_configs else "sweep"
    if args.quick:
        records = quick_subset(records)
    start = time.perf_counter()
    results = compile_all(records, mode, args.jobs)
    compiled = time.perf_counter() - start
    (out / "results.json").write_text(json.dumps(results, indent=1))
    failed = report(results)
    print(f"\n{len(results)} compiles for sm_90 in {compiled:.0f} s ({args.jobs} processes), "
          f"{failed} failed; details in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
