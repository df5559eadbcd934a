"""GPU bench: the engine's Triton kernels next to torch's CUDA ops, same process.

    python -m bench.gpu_bench --out DIR          # on a GPU: timings + errors
    python -m bench.gpu_bench --out DIR --dry    # anywhere: checks only, tiny shapes

Both sides are timed with `triton.testing.do_bench` (median ms, warm-up and compile
excluded: each case runs once before timing). TF32 is off on both sides
(torch.backends.cuda.matmul.allow_tf32 = False; the engine's fp32 matmul uses
input_precision="ieee"), so fp32 rows compare the same arithmetic. The max error is
against torch in float64 on the same inputs. Writes gpu_bench.md and gpu_bench.json.
"""
import argparse
import json
import pathlib
import platform
import sys
import time

import numpy as np


def _cases(dry):
    s = (lambda big, small: small if dry else big)
    return [
        # name, engine fn, torch fn, input shapes, dtype, bytes or flops per call
        ("add", lambda a, b: a + b, lambda a, b: a + b,
         [(s(4096, 64), s(4096, 64))] * 2, "float32", "gb"),
        ("add_broadcast_row", lambda a, b: a + b, lambda a, b: a + b,
         [(s(4096, 64), s(4096, 64)), (s(4096, 64),)], "float32", "gb"),
        ("exp", lambda a: a.exp(), lambda a: a.exp(), [(s(4096, 64), s(4096, 64))], "float32",
         "gb"),
        ("gelu_like_tanh", lambda a: a.tanh(), lambda a: a.tanh(),
         [(s(4096, 64), s(4096, 64))], "float32", "gb"),
        ("sum_rows", lambda a: a.sum(-1), lambda a: a.sum(-1), [(s(4096, 64), s(4096, 64))],
         "float32", "gb"),
        ("sum_cols", lambda a: a.sum(0), lambda a: a.sum(0), [(s(4096, 64), s(4096, 64))],
         "float32", "gb"),
        ("amax_rows", lambda a: a.amax(-1), lambda a: a.amax(-1),
         [(s(4096, 64), s(4096, 64))], "float32", "gb"),
        ("softmax", lambda a: a.softmax(-1), lambda a: a.softmax(-1),
         [(s(4096, 64), s(4096, 64))], "float32", "gb"),
        ("log_softmax", lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1),
         [(s(8192, 64), s(1024, 64))], "float32", "gb"),
        ("transpose_copy", lambda a: a.T.contiguous(), lambda a: a.T.contiguous(),
         [(s(4096, 64), s(4096, 64))], "float32", "gb"),
        ("matmul_fp32", lambda a, b: a @ b, lambda a, b: a @ b,
         [(s(2048, 64), s(2048, 64))] * 2, "float32", "flop"),
        ("matmul_fp16", lambda a, b: a @ b, lambda a, b: a @ b,
         [(s(4096, 64), s(4096, 64))] * 2, "float16", "flop"),
        ("matmul_odd_fp32", lambda a, b: a @ b, lambda a, b: a @ b,
         [(s(1023, 113), s(203, 67)), (s(203, 67), s(1023, 113))], "float32", "flop"),
        ("matmul_batched_fp16", lambda a, b: a @ b, lambda a, b: a @ b,
         [(s(32, 2), s(512, 64), s(64, 16)), (s(32, 2), s(64, 16), s(512, 64))], "float16",
         "flop"),
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--dry", action="store_true", help="no GPU: tiny shapes, no timing")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    import torch
    import engine as eg
    device = "cpu" if args.dry else "cuda"
    if not args.dry:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        from triton.testing import do_bench
    rng = np.random.default_rng(0)
    rows = []
    for name, e_fn, t_fn, shapes, dtype, unit in _cases(args.dry):
        arrays = [rng.standard_normal(sh).astype(dtype) for sh in shapes]
        e_in = [eg.from_numpy(a).cuda() for a in arrays]
        t_in = [torch.from_numpy(a).to(device) for a in arrays]
        row = {"op": name, "shapes": [list(sh) for sh in shapes], "dtype": dtype}
        try:
            start = time.perf_counter()
            got = e_fn(*e_in).numpy()
            row["first_call_s"] = round(time.perf_counter() - start, 3)   # compile + autotune
            want = t_fn(*[t.double() for t in t_in]).cpu().numpy()
            row["max_abs_err"] = float(np.max(np.abs(got.astype(np.float64) - want)))
            row["max_rel_err"] = float(row["max_abs_err"] / max(np.max(np.abs(want)), 1e-30))
            if not args.dry:
                row["engine_ms"] = do_bench(lambda: e_fn(*e_in), return_mode="median")
                row["torch_ms"] = do_bench(lambda: t_fn(*t_in), return_mode="median")
                row["ratio"] = row["engine_ms"] / row["torch_ms"]
                if unit == "flop":
                    m, k = shapes[0][-2:]
                    n = shapes[1][-1]
                    batch = int(np.prod(shapes[0][:-2])) if len(shapes[0]) > 2 else 1
                    row["engine_tflops"] = 2 * batch * m * n * k / row["engine_ms"] / 1e9
                else:
                    moved = sum(a.nbytes for a in arrays) + got.nbytes
                    row["engine_gbs"] = moved / row["engine_ms"] / 1e6
        except Exception as error:  # noqa: BLE001 - one failing case must not hide the rest
            row["error"] = f"{type(error).__name__}: {error}"[:300]
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)

    meta = {"device": torch.cuda.get_device_name() if not args.dry else "interpreter (dry run)",
            "torch": torch.__version__, "python": platform.python_version(),
            "tf32": False, "timer": "triton.testing.do_bench median",
            "date": time.strftime("%Y-%m-%d %H:%M")}
    import triton
    meta["triton"] = triton.__version__
    (out / "gpu_bench.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [f"# GPU bench: {meta['device']} (triton {meta['triton']}, torch {meta['torch']}, "
             f"TF32 off)", "",
             "| op | shapes | dtype | engine ms | torch ms | ratio | GB/s or TFLOP/s | "
             "max rel err | first call s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['op']} | {r['shapes']} | {r['dtype']} | error: {r['error']} "
                         f"| | | | | |")
            continue
        fmt = lambda key, spec: format(r[key], spec) if key in r else "-"
        speed = fmt("engine_tflops", ".1f") if "engine_tflops" in r else fmt("engine_gbs", ".0f")
        lines.append(f"| {r['op']} | {r['shapes']} | {r['dtype']} | {fmt('engine_ms', '.4f')} | "
                     f"{fmt('torch_ms', '.4f')} | {fmt('ratio', '.2f')} | {speed} | "
                     f"{r['max_rel_err']:.1e} | {r['first_call_s']} |")
    (out / "gpu_bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
