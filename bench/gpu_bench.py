"""GPU bench: the engine's Triton kernels next to torch's CUDA ops, same process.

    python -m bench.gpu_bench --out DIR          # on a GPU: timings + errors
    python -m bench.gpu_bench --out DIR --dry    # anywhere: checks only, tiny shapes

Both sides are timed with `triton.testing.do_bench` (median ms, warm-up and compile
excluded: each case runs once before timing, and that first call is reported on its
own). TF32 is off on both sides (torch.backends.cuda.matmul.allow_tf32 = False, cuDNN
likewise; the engine's fp32 `tl.dot` uses input_precision="ieee"), so fp32 rows compare
the same arithmetic. A `fwd+bwd` row times the forward and a backward with a fixed
upstream gradient (a training step without the optimizer).

Errors are measured against torch in float64 on the same inputs (same weights for the
layers): the forward output and, for fwd+bwd rows, the first input's gradient. fp16
rows carry fp16 rounding by design: judge them against the fp16 torch row's own error.

Speed columns: GB/s (bytes of the inputs and outputs, once each) and, where the
device's HBM peak is known, its percentage (the issue's target: softmax and layer_norm
at >= 85% of an H100 SXM's 3.35 TB/s); TFLOP/s for matmul, conv and attention (FA2's
convention: backward = 2.5 x forward flops; causal halves both).
Writes gpu_bench.md and gpu_bench.json.
"""
import argparse
import dataclasses
import json
import pathlib
import platform
import sys
import time
from typing import Callable, Optional

import numpy as np

# HBM bandwidth by device-name substring (GB/s), for the % of peak column.
PEAK_GBS = {"H100 PCIe": 2000, "H100": 3350, "H200": 4800, "A100": 2039}


@dataclasses.dataclass
class Case:
    """One row: `build(side, dtype, dry)` returns fn(*tensors) -> output tensor.

    `side` is the engine's or torch's namespace (see _Side); `inputs(rng, dry)` gives the
    numpy inputs (float arrays become the case dtype and, for fwd+bwd rows, leaves that
    require grad; integer arrays are targets or indices and stay as they are).
    """
    name: str
    build: Callable
    inputs: Callable
    dtype: str = "float32"
    backward: bool = False
    flops: Optional[Callable] = None     # flops(list of input shapes) for a TFLOP/s column
    compared: bool = True                # False: no torch value to match (dropout's mask)


@dataclasses.dataclass
class _Side:
    name: str           # "engine" or "torch"
    lib: object         # engine or torch
    F: object           # engine.nn.functional or torch.nn.functional
    nn: object          # engine.nn or torch.nn
    device: str


def functional(fn):
    """A case built from one call: fn(side, *tensors), the same text for both sides."""
    return lambda side, dtype, dry: (lambda *t: fn(side, *t))


def normal(*shapes):
    return lambda rng, dry: [rng.standard_normal(s(dry)).astype(np.float32) for s in shapes]


def size(big, small):
    """A shape: `big` on a GPU, `small` in a dry run."""
    return lambda dry: small if dry else big


def _matmul_flops(shapes):
    *batch, m, k = shapes[0]
    return 2 * int(np.prod(batch or [1])) * m * k * shapes[1][-1]


def _conv_flops(shapes, passes):
    (n, _, h, w), (co, ci, kh, kw) = shapes[0], shapes[1]
    return passes * 2 * n * co * h * w * ci * kh * kw     # stride 1, "same" padding


def _attention_flops(causal):
    def flops(shapes):
        b, h, s, d = shapes[0]
        forward = 4 * b * h * s * s * d * (0.5 if causal else 1.0)
        return 3.5 * forward                                # forward + 2.5x backward
    return flops


def _lstm(big, small):
    """nn.LSTM(I, H) with torch's initial weights on both sides (the engine copies them)."""
    def build(side, dtype, dry):
        import torch
        sizes = small if dry else big
        torch.manual_seed(0)
        reference = torch.nn.LSTM(*sizes)
        if side.name == "torch":
            layer = reference.to(device=side.device, dtype=getattr(torch, dtype))
        else:
            layer = side.nn.LSTM(*sizes)
            layer.load_state_dict({k: v.detach().numpy() for k, v in
                                   reference.state_dict().items()})
            layer = layer.to(device="cuda", dtype=getattr(side.lib, dtype))
        return lambda x: layer(x)[0]
    return build


def _cases():
    big_rows = size((4096, 4096), (64, 80))
    cases = [
        # elementwise, reductions, softmax: bandwidth-bound
        Case("add", functional(lambda s, a, b: a + b), normal(big_rows, big_rows)),
        Case("add_broadcast_row", functional(lambda s, a, b: a + b),
             normal(big_rows, size((4096,), (80,)))),
        Case("exp", functional(lambda s, a: a.exp()), normal(big_rows)),
        Case("tanh", functional(lambda s, a: a.tanh()), normal(big_rows)),
        Case("gelu fwd+bwd", functional(lambda s, a: s.F.gelu(a)), normal(big_rows),
             backward=True),
        Case("sum_rows", functional(lambda s, a: a.sum(-1)), normal(big_rows)),
        Case("sum_cols", functional(lambda s, a: a.sum(0)), normal(big_rows)),
        Case("amax_rows", functional(lambda s, a: a.amax(-1)), normal(big_rows)),
        # few rows, many columns: the two-stage (split-column) reductions
        Case("sum (all)", functional(lambda s, a: a.sum()),
             normal(size((4096, 32000), (64, 80)))),
        Case("argmax (all)", functional(lambda s, a: a.argmax()),
             normal(size((4096, 32000), (64, 80)))),
        Case("transpose_copy", functional(lambda s, a: a.T.contiguous()), normal(big_rows)),
        Case("softmax", functional(lambda s, a: a.softmax(-1)), normal(big_rows)),
        Case("log_softmax", functional(lambda s, a: a.log_softmax(-1)),
             normal(size((8192, 4096), (64, 80)))),
        Case("softmax fwd+bwd", functional(lambda s, a: a.softmax(-1)), normal(big_rows),
             backward=True),
        Case("layer_norm", functional(lambda s, a: s.F.layer_norm(a, a.shape[-1:])),
             normal(size((8192, 4096), (64, 80)))),
        Case("layer_norm fwd+bwd",
             functional(lambda s, a, w, b: s.F.layer_norm(a, a.shape[-1:], w, b)),
             normal(size((8192, 4096), (64, 80)), size((4096,), (80,)), size((4096,), (80,))),
             backward=True),
        Case("batch_norm train fwd+bwd",
             functional(lambda s, a, w, b: s.F.batch_norm(a, None, None, w, b, training=True)),
             normal(size((32, 64, 56, 56), (2, 4, 5, 5)), size((64,), (4,)),
                    size((64,), (4,))), backward=True),
        Case("cross_entropy fwd+bwd", functional(lambda s, x, t: s.F.cross_entropy(x, t)),
             lambda rng, dry: [rng.standard_normal((64, 80) if dry else (4096, 32000))
                               .astype(np.float32),
                               rng.integers(0, 80 if dry else 32000, 64 if dry else 4096)],
             backward=True),
        Case("dropout p=0.5", functional(lambda s, a: s.F.dropout(a, 0.5)), normal(big_rows),
             compared=False),
        Case("embedding fwd+bwd", functional(lambda s, i, w: s.F.embedding(i, w)),
             lambda rng, dry: [rng.integers(0, 50 if dry else 32000, (4, 8) if dry else (64, 512)),
                               rng.standard_normal((50, 16) if dry else (32000, 512))
                               .astype(np.float32)],
             backward=True),
        # matmul: tensor cores
        Case("matmul", functional(lambda s, a, b: a @ b),
             normal(size((2048, 2048), (64, 64)), size((2048, 2048), (64, 64))),
             flops=_matmul_flops),
        Case("matmul", functional(lambda s, a, b: a @ b),
             normal(size((4096, 4096), (64, 64)), size((4096, 4096), (64, 64))),
             dtype="float16", flops=_matmul_flops),
        Case("matmul odd", functional(lambda s, a, b: a @ b),
             normal(size((1023, 203), (113, 67)), size((203, 1023), (67, 113))),
             flops=_matmul_flops),
        Case("matmul batched", functional(lambda s, a, b: a @ b),
             normal(size((32, 512, 64), (2, 16, 16)), size((32, 64, 512), (2, 16, 16))),
             dtype="float16", flops=_matmul_flops),
        # convolution and pooling: a ResNet stage-1 layer (3x3, 64 -> 64, 56x56)
        Case("conv2d ResNet 3x3", functional(lambda s, x, w: s.F.conv2d(x, w, padding=1)),
             normal(size((32, 64, 56, 56), (2, 4, 6, 6)), size((64, 64, 3, 3), (4, 4, 3, 3))),
             flops=lambda sh: _conv_flops(sh, 1)),
        Case("conv2d ResNet 3x3 fwd+bwd",
             functional(lambda s, x, w: s.F.conv2d(x, w, padding=1)),
             normal(size((32, 64, 56, 56), (2, 4, 6, 6)), size((64, 64, 3, 3), (4, 4, 3, 3))),
             backward=True, flops=lambda sh: _conv_flops(sh, 3)),
        Case("conv2d ResNet 3x3 fwd+bwd",
             functional(lambda s, x, w: s.F.conv2d(x, w, padding=1)),
             normal(size((32, 64, 56, 56), (2, 4, 6, 6)), size((64, 64, 3, 3), (4, 4, 3, 3))),
             dtype="float16", backward=True, flops=lambda sh: _conv_flops(sh, 3)),
        Case("max_pool2d 2x2 fwd+bwd", functional(lambda s, x: s.F.max_pool2d(x, 2)),
             normal(size((32, 64, 112, 112), (2, 3, 8, 8))), backward=True),
        # fused attention, the issue's shapes (fp16: torch's SDPA picks its flash backend)
        *[Case(f"attention D{d}{' causal' if causal else ''} fwd+bwd",
               functional(lambda s, q, k, v, causal=causal:
                          s.F.scaled_dot_product_attention(q, k, v, is_causal=causal)),
               normal(*[size((4, 16, 2048, d), (1, 2, 40, d))] * 3), dtype="float16",
               backward=True, flops=_attention_flops(causal))
          for d in (64, 128) for causal in (False, True)],
        # the LSTM training step of the CPU bench: T=100, B=64, I=128, H=256
        Case("LSTM T100 B64 I128 H256 fwd+bwd", _lstm((128, 256), (8, 12)),
             normal(size((100, 64, 128), (5, 2, 8))), backward=True),
    ]
    # The issue's targets first: a run cut short by its time limit still has them.
    targets = ("attention", "matmul", "softmax", "layer_norm", "conv2d", "LSTM")
    rank = lambda case: next((i for i, t in enumerate(targets) if t in case.name), len(targets))
    return sorted(cases, key=rank)


def _inputs(side, arrays, dtype, grad):
    out = []
    for a in arrays:
        if a.dtype.kind == "f":
            t = side.lib.from_numpy(a.astype(dtype)).to(side.device)
            if grad:
                t.requires_grad_()
        else:
            t = side.lib.from_numpy(a).to(side.device)
        out.append(t)
    return out


def _step(fn, tensors, upstream, backward):
    """The timed closure: forward, and backward from `upstream` for fwd+bwd rows."""
    leaves = [t for t in tensors if t.requires_grad]

    def run():
        out = fn(*tensors)
        if backward:
            for t in leaves:
                t.grad = None
            out.backward(upstream)
        return out
    return run


def _numpy(t):
    return t.detach().cpu().numpy().astype(np.float64) if hasattr(t, "detach") else \
        np.asarray(t.numpy(), np.float64)


def _rel_err(got, want):
    return float(np.max(np.abs(got - want), initial=0.0) / max(np.max(np.abs(want), initial=0.0),
                                                               1e-30))


def run_case(case, engine_side, torch_side, rng, dry, do_bench):
    arrays = case.inputs(rng, dry)
    shapes = [list(a.shape) for a in arrays]
    row = {"op": case.name, "shapes": shapes, "dtype": case.dtype,
           "pass": "fwd+bwd" if case.backward else "fwd"}
    e_in = _inputs(engine_side, arrays, case.dtype, case.backward)
    t_in = _inputs(torch_side, arrays, case.dtype, case.backward)
    e_fn, t_fn = case.build(engine_side, case.dtype, dry), case.build(torch_side, case.dtype, dry)

    start = time.perf_counter()
    e_out = e_fn(*e_in)                                     # compiles (and autotunes)
    upstream = rng.standard_normal(tuple(e_out.shape)).astype(case.dtype)
    e_run = _step(e_fn, e_in, engine_side.lib.from_numpy(upstream).to("cuda"), case.backward)
    e_out = e_run()
    row["first_call_s"] = round(time.perf_counter() - start, 3)

    # The float64 reference: torch on the same inputs (and weights), in float64.
    t64_in = _inputs(torch_side, arrays, "float64", case.backward)
    t64_fn = case.build(torch_side, "float64", dry)
    t64_run = _step(t64_fn, t64_in, torch_side.lib.from_numpy(upstream.astype(np.float64))
                    .to(torch_side.device), case.backward)
    want = t64_run()
    if case.compared:
        row["max_rel_err"] = _rel_err(_numpy(e_out), _numpy(want))
    if case.compared and case.backward:
        first = next(i for i, t in enumerate(e_in) if t.requires_grad)
        row["grad_max_rel_err"] = _rel_err(_numpy(e_in[first].grad), _numpy(t64_in[first].grad))
    if dry:
        return row
    t_run = _step(t_fn, t_in, torch_side.lib.from_numpy(upstream).to(torch_side.device),
                  case.backward)
    row["engine_ms"] = do_bench(e_run, return_mode="median")
    row["torch_ms"] = do_bench(t_run, return_mode="median")
    row["ratio"] = row["torch_ms"] / row["engine_ms"]          # > 1: the engine is faster
    if case.flops:
        row["engine_tflops"] = case.flops(shapes) / row["engine_ms"] / 1e9
    elif not case.backward:
        moved = sum(a.astype(case.dtype).nbytes if a.dtype.kind == "f" else a.nbytes
                    for a in arrays) + int(np.prod(e_out.shape)) * np.dtype(case.dtype).itemsize
        row["engine_gbs"] = moved / row["engine_ms"] / 1e6
    return row


def _peak(device_name):
    return next((gbs for key, gbs in PEAK_GBS.items() if key in device_name), None)


def _markdown(meta, rows):
    peak = meta.get("peak_gbs")
    lines = [f"# GPU bench: {meta['device']} (triton {meta['triton']}, torch {meta['torch']}, "
             f"TF32 off)", "",
             "ratio = torch ms / engine ms (> 1: the engine is faster). "
             + (f"% peak: of {peak} GB/s HBM." if peak else ""), "",
             "| op | pass | shapes | dtype | engine ms | torch ms | ratio | GB/s (% peak) or "
             "TFLOP/s | max rel err (out / grad) | first call s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    fmt = lambda r, key, spec: format(r[key], spec) if key in r else "-"
    for r in rows:
        head = f"| {r['op']} | {r.get('pass', '')} | {r['shapes']} | {r['dtype']} |"
        if "error" in r:
            lines.append(f"{head} error: {r['error']} | | | | | |")
            continue
        if "engine_tflops" in r:
            speed = f"{r['engine_tflops']:.1f} TFLOP/s"
        elif "engine_gbs" in r:
            speed = f"{r['engine_gbs']:.0f}" + (f" ({100 * r['engine_gbs'] / peak:.0f}%)"
                                                 if peak else "")
        else:
            speed = "-"
        err = fmt(r, "max_rel_err", ".1e") + (f" / {r['grad_max_rel_err']:.1e}"
                                              if "grad_max_rel_err" in r else "")
        lines.append(f"{head} {fmt(r, 'engine_ms', '.4f')} | {fmt(r, 'torch_ms', '.4f')} | "
                     f"{fmt(r, 'ratio', '.2f')} | {speed} | {err} | {r['first_call_s']} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry", action="store_true", help="no GPU: tiny shapes, no timing")
    parser.add_argument("-k", default="", help="only the cases whose name contains this")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    import triton
    import engine
    import engine.nn
    torch_device = "cpu" if args.dry else "cuda"
    do_bench = None
    if not args.dry:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        from triton.testing import do_bench
    engine_side = _Side("engine", engine, engine.nn.functional, engine.nn, "cuda")
    torch_side = _Side("torch", torch, torch.nn.functional, torch.nn, torch_device)
    device = torch.cuda.get_device_name() if not args.dry else "interpreter (dry run)"
    meta = {"device": device, "peak_gbs": _peak(device), "torch": torch.__version__,
            "triton": triton.__version__, "python": platform.python_version(), "tf32": False,
            "timer": "triton.testing.do_bench median", "date": time.strftime("%Y-%m-%d %H:%M")}
    rng = np.random.default_rng(0)
    rows = []
    for case in _cases():
        if args.k not in case.name:
            continue
        try:
            row = run_case(case, engine_side, torch_side, rng, args.dry, do_bench)
        except Exception as error:  # noqa: BLE001 - one failing case must not hide the rest
            row = {"op": case.name, "pass": "fwd+bwd" if case.backward else "fwd",
                   "shapes": "-", "dtype": case.dtype,
                   "error": f"{type(error).__name__}: {error}"[:300]}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
        # Written after every row: a run cut short by its time limit keeps what it measured.
        (out / "gpu_bench.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
        (out / "gpu_bench.md").write_text(_markdown(meta, rows))
    print(_markdown(meta, rows))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
