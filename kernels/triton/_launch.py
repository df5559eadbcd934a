"""Shared launch arithmetic: block sizes, and collapsing any view to at most 4 dims.

Every strided kernel here indexes its operands as 4-d: the flat output index i is
split into (i0, i1, i2, i3) by the (collapsed) output shape, and each operand's
address is `ptr + i0*s0 + i1*s1 + i2*s2 + i3*s3` with its own strides (0 along
broadcast dims). Adjacent dims merge when every operand's strides allow it, so a
contiguous tensor of any rank is 1-d, and a transposed matrix plus a broadcast row
is 2-d. What still has more than 4 dims after merging loops over its leading dims
here, one launch each (rare: it needs a >4-d, non-mergeable view).
"""
import itertools

import triton

from kernels.triton.buffer import INTERPRET

MAX_RANK = 4
# The interpreter runs programs one after another at ~1-4 ms each, with numpy doing
# each program's block at once: few, large programs are what it is fast at. On a GPU,
# 1024-element blocks keep every SM busy and registers low.
ELEMENTWISE_BLOCK = 1 << 16 if INTERPRET else 1024
TILE_ELEMENTS = 1 << 16 if INTERPRET else 4096


def cdiv(a, b):
    return -(-a // b)


def next_pow2(n):
    return triton.next_power_of_2(max(int(n), 1))


def elementwise_block(n):
    return max(16, min(next_pow2(n), ELEMENTWISE_BLOCK))


def collapse(shape, strides_list):
    """Merge dims of `shape` (dropping size-1 ones) where all operands' strides allow.

    Returns [(size, [stride per operand]), ...] from the outermost dim in.
    """
    merged = []
    for i, n in enumerate(shape):
        if n == 1:
            continue
        st = [s[i] for s in strides_list]
        if merged:
            pn, pst = merged[-1]
            if all(ps == s * n for ps, s in zip(pst, st)):
                merged[-1] = (pn * n, st)
                continue
        merged.append((n, st))
    return merged


def strided_launch(launch, shape, buffers):
    """Call launch(ptrs, sizes4, strides4_per_buffer, n) once per 4-d chunk of `shape`.

    `buffers` are DeviceBuffers already viewed at `shape` (broadcast dims stride 0).
    """
    dims = collapse(shape, [b.strides for b in buffers])
    if not dims:
        dims = [(1, [0] * len(buffers))]
    outer, inner = dims[:-MAX_RANK], dims[-MAX_RANK:]
    inner = [(1, [0] * len(buffers))] * (MAX_RANK - len(inner)) + inner
    sizes = [n for n, _ in inner]
    strides = [[st[k] for _, st in inner] for k in range(len(buffers))]
    n = sizes[0] * sizes[1] * sizes[2] * sizes[3]
    for index in itertools.product(*[range(d) for d, _ in outer]):
        ptrs = []
        for k, b in enumerate(buffers):
            delta = sum(i * st[k] for i, (_, st) in zip(index, outer))
            ptrs.append(b.view(b.shape, b.strides, b.offset + delta).ptr())
        launch(ptrs, sizes, strides, n)
