"""Inverted dropout on the `cuda` device, bit for bit the reference's mask.

Same values as kernels/reference/dropout.py: element i (C order) of x is kept when a
24-bit draw u_i >= round(p·2^24), and becomes x_i / (1 - p); a dropped one becomes
x_i · 0 (NaN stays NaN, as torch's x * mask). Shapes: x any shape and strides, out
contiguous of x's shape, x's dtype. Backward is this same kernel on the upstream
gradient with the same seed (engine/ops/dropout.py): nothing is saved.

The draw is counter-based: SplitMix64's output function of seed + (i + 1)·γ, in uint64
arithmetic (wrapping multiply, logical shifts), so each element's bit depends on
(seed, i) only — no generator state, no sequential dependency, any grid. torch and
the issue ask for Philox, which is also counter-based; keeping SplitMix64 instead
makes the mask identical on every backend (numpy reference, Numba, Triton: tested bit
for bit), so a run on cuda drops the same elements as the same run on cpu. Cost: 4
64-bit multiplies per element, hidden behind the read and write of x (memory bound:
read N, write N; a saved mask would add a byte per element each way).

x of any view is read through its 4-d strides (elementwise.py's scheme; the flat index
i is the output's, contiguous, so it is the element's C-order index); a view that does
not collapse to 4 dims is copied first, keeping i global.
"""
import numpy as np
import triton
import triton.language as tl

from kernels.reference.dropout import dropout_scale, dropout_threshold
from kernels.triton import _launch
from kernels.triton.buffer import empty
from kernels.triton.creation import full
from kernels.triton.elementwise import _split4
from kernels.triton.movement import contiguous_copy


# seed and threshold must stay runtime values: Triton would specialize a 1 into a constant.
@triton.jit(do_not_specialize=["seed", "threshold"])
def dropout_forward_kernel(x_ptr, scale_ptr, out_ptr, n, seed, threshold, D1, D2, D3,
                           sx0, sx1, sx2, sx3, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = i < n
    z = seed.to(tl.uint64) + (i + 1).to(tl.uint64) * 0x9E3779B97F4A7C15
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB
    z = z ^ (z >> 31)
    keep = (z >> 40).to(tl.int64) >= threshold
    i0, i1, i2, i3 = _split4(i, D1, D2, D3)
    x = tl.load(x_ptr + i0 * sx0 + i1 * sx1 + i2 * sx2 + i3 * sx3, mask=mask)
    # The scale's dtype is the compute dtype: float64 for float64 (an exact scale),
    # float32 otherwise (float16 rounds once, at the store, as torch's half dropout).
    scale = tl.load(scale_ptr)
    out = x.to(scale.dtype) * tl.where(keep, scale, tl.zeros_like(scale))
    tl.store(out_ptr + i, out.to(out_ptr.dtype.element_ty), mask=mask)


def dropout(x, p, seed):
    out = empty(x.shape, x.dtype)
    if out.size == 0:
        return out
    dims = _launch.collapse(x.shape, [out.strides, x.strides])
    if len(dims) > _launch.MAX_RANK:
        x = contiguous_copy(x)
        dims = _launch.collapse(x.shape, [out.strides, x.strides])
    dims = [(1, [0, 0])] * (_launch.MAX_RANK - len(dims)) + dims
    sizes = [d for d, _ in dims]
    strides = [st[1] for _, st in dims]
    scale = full((1,), dropout_scale(p), np.float64 if x.dtype == np.float64 else np.float32)
    block = _launch.elementwise_block(out.size)
    dropout_forward_kernel[(_launch.cdiv(out.size, block),)](
        x.ptr(), scale.ptr(), out.ptr(), out.size, int(seed), dropout_threshold(p),
        sizes[1], sizes[2], sizes[3], *strides, BLOCK=block)
    return out
