"""Per-op overhead: a chain of 1,000 elementwise ops on shape-(4,) tensors, forward
and backward, engine vs torch in the same process.

At this size the kernels cost almost nothing, so the time is what every op pays
whatever its size: argument checks, graph-node creation, dispatch, the backward
walk and gradient accumulation. That is the Cython runtime's job.

    python -m bench.overhead             # with the compiled runtime (if built)
    ENGINE_NO_EXT=1 python -m bench.overhead   # the same source, interpreted
"""
import argparse
import statistics
import time

from bench.common import pin_threads, write_result


def chain(lib, x, length):
    """Alternate tanh and a scaled add so both kernel kinds and scalars appear."""
    y = x
    for i in range(length // 2):
        y = lib.tanh(y)
        y = y * 0.5 + 0.25
    return y.sum()


def time_chain(lib, make_input, length, repeats):
    samples = []
    for _ in range(repeats):
        x = make_input()
        start = time.perf_counter()
        chain(lib, x, length).backward()
        samples.append(time.perf_counter() - start)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=1000, help="ops in the chain")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    pin_threads(args.threads)

    import numpy as np
    import torch

    import engine as eg

    values = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    make_engine = lambda: eg.tensor(values, requires_grad=True)
    make_torch = lambda: torch.tensor(values, requires_grad=True)
    # Warm up (JIT compile, caches) before timing; then alternate the two libraries
    # so machine noise hits both alike.
    time_chain(eg, make_engine, args.length, 3)
    time_chain(torch, make_torch, args.length, 3)
    engine_s, torch_s = [], []
    for _ in range(args.repeats):
        engine_s += time_chain(eg, make_engine, args.length, 1)
        torch_s += time_chain(torch, make_torch, args.length, 1)
    n_ops = 3 * (args.length // 2) + 1          # tanh, mul, add per pair, plus sum
    engine_us = statistics.median(engine_s) / n_ops * 1e6
    torch_us = statistics.median(torch_s) / n_ops * 1e6
    runtime = "compiled" if eg.extension_compiled() else "interpreted"
    print("| runtime | engine µs/op | torch µs/op | ratio (torch/engine) |")
    print("|---|---|---|---|")
    print(f"| {runtime} | {engine_us:.2f} | {torch_us:.2f} | {torch_us / engine_us:.2f} |")
    write_result(f"overhead_{runtime}", {
        "runtime": runtime, "ops_per_chain": n_ops, "threads": args.threads,
        "engine_us_per_op": engine_us, "torch_us_per_op": torch_us,
        "ratio": torch_us / engine_us, "repeats": args.repeats,
    })


if __name__ == "__main__":
    main()
