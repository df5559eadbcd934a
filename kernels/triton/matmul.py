"""Batched matrix multiply on the `cuda` device: (B, M, K) @ (B, K, N) -> (B, M, N).

Same values as kernels/reference/matmul.py. The naive kernel (one program per output
element, a K-long dot) reads 2MNK elements. A tiled kernel (Triton's matmul
tutorial) gives each program a BLOCK_M x BLOCK_N output tile and walks K in
BLOCK_K steps: it reads (M N K)(1/BLOCK_N + 1/BLOCK_M) elements, and `tl.dot` runs
each step on the tensor cores.

- Operands are any strided views (transposed weights, broadcast batches): each gets
  its three strides (stride_ab, stride_am, stride_ak ...), no copy.
- Grouped ordering: programs run GROUP_M tile-rows at a time, so consecutive programs
  reuse the same B columns from L2 (the tutorial's measured ~10% on large squares).
- Accumulation is fp32 for fp16 inputs (rounded once on store). fp32 inputs use
  `input_precision="ieee"`: exact fp32 products, as numpy and torch (TF32 off) give;
  a GPU `tl.dot` would otherwise default to TF32 (10-bit mantissa).
- float64 and integer inputs have no tensor-core path on every GPU: they take the
  same tiles with a broadcast multiply and a sum over K (exact integers, fp64 FMA).
- Masks on every load: M, N, K need not divide the blocks (odd shapes 113 x 203).
- On a GPU `@triton.autotune` picks a config per (M, N, K); the interpreter runs one
  large config (few programs: it costs ~1 ms each).
"""
import numpy as np
import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import INTERPRET, empty
from kernels.triton.creation import full


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K,
                  stride_ab, stride_am, stride_ak, stride_bb, stride_bk, stride_bn,
                  stride_cb, stride_cm, stride_cn,
                  USE_DOT: tl.constexpr, IEEE: tl.constexpr, ACC_F64: tl.constexpr,
                  ACC_I64: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr):
    pid = tl.program_id(0)
    batch = tl.program_id(1).to(tl.int64)
    num_m = tl.cdiv(M, BLOCK_M)
    num_n = tl.cdiv(N, BLOCK_N)
    group = GROUP_M * num_n
    first_m = (pid // group) * GROUP_M
    group_size = tl.minimum(num_m - first_m, GROUP_M)
    pid_m = first_m + (pid % group) % group_size
    pid_n = (pid % group) // group_size

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    a_ptrs = a_ptr + batch * stride_ab + offs_m[:, None] * stride_am + offs_k[None, :] * stride_ak
    b_ptrs = b_ptr + batch * stride_bb + offs_k[:, None] * stride_bk + offs_n[None, :] * stride_bn
    acc_dtype = tl.float32
    if ACC_F64:
        acc_dtype = tl.float64
    if ACC_I64:
        acc_dtype = tl.int64
    acc = tl.zeros([BLOCK_M, BLOCK_N], acc_dtype)
    for k in range(0, K, BLOCK_K):
        a_mask = (offs_m[:, None] < M) & (offs_k[None, :] + k < K)
        b_mask = (offs_k[:, None] + k < K) & (offs_n[None, :] < N)
        a = tl.load(a_ptrs, mask=a_mask, other=0)
        b = tl.load(b_ptrs, mask=b_mask, other=0)
        if USE_DOT:
            if IEEE:
                acc += tl.dot(a, b, input_precision="ieee")
            else:
                acc += tl.dot(a, b)
        else:
            acc += tl.sum(a[:, :, None].to(acc_dtype) * b[None, :, :].to(acc_dtype), axis=1)
        a_ptrs += BLOCK_K * stride_ak
        b_ptrs += BLOCK_K * stride_bk
    c_ptrs = c_ptr + batch * stride_cb + offs_m[:, None] * stride_cm + offs_n[None, :] * stride_cn
    c_mask = (offs_m[:, None] < M) & (offs_n[None, :] < N)
    tl.store(c_ptrs, acc.to(c_ptr.dtype.element_ty), mask=c_mask)


def _config(bm, bn, bk, group, warps, stages):
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": group},
                         num_warps=warps, num_stages=stages)


if INTERPRET:
    _tuned = None
else:
    # The Triton tutorial's configs for the tensor-core path, plus small tiles for the
    # skinny products of a backward pass.
    _tuned = triton.autotune(configs=[
        _config(128, 256, 64, 8, 8, 3), _config(64, 256, 32, 8, 4, 4),
        _config(128, 128, 32, 8, 4, 4), _config(128, 64, 32, 8, 4, 4),
        _config(64, 128, 32, 8, 4, 4), _config(128, 32, 32, 8, 4, 4),
        _config(64, 32, 32, 8, 2, 5), _config(32, 64, 32, 8, 2, 5),
        _config(32, 32, 32, 8, 2, 4),
    ], key=["M", "N", "K", "USE_DOT", "IEEE"])(matmul_kernel)

# The no-dot path holds a BLOCK_M x BLOCK_K x BLOCK_N product in registers: small tiles.
_SMALL = {"BLOCK_M": 32, "BLOCK_N": 32, "BLOCK_K": 8, "GROUP_M": 8}


def matmul(a, b):
    batch, m, k = a.shape
    n = b.shape[2]
    dtype = np.result_type(a.dtype, b.dtype)
    if dtype.kind == "b":
        raise NotImplementedError("matmul: bool matrices have no cuda kernel. Hint: convert "
                                  "them with .int() or .float() first")
    out = empty((batch, m, n), dtype)
    if out.size == 0:
        return out
    if k == 0:
        return full((batch, m, n), 0, dtype)
    use_dot = dtype in (np.float16, np.float32)
    flags = dict(USE_DOT=use_dot, IEEE=dtype == np.float32, ACC_F64=dtype == np.float64,
                 ACC_I64=dtype.kind in "iu")
    # The batch is grid axis 1, which a GPU caps at 65535 programs: larger batches launch
    # in chunks, each with its operands' pointers moved to the chunk's first matrix.
    for b0 in range(0, batch, _MAX_GRID_Y):
        nb = min(batch - b0, _MAX_GRID_Y)
        args = (_batch_ptr(a, b0), _batch_ptr(b, b0), _batch_ptr(out, b0), m, n, k,
                *a.strides, *b.strides, *out.strides)
        if INTERPRET or not use_dot:
            if INTERPRET:
                bm = max(16, min(_launch.next_pow2(m), 64))
                bn = max(16, min(_launch.next_pow2(n), 64))
                bk = max(16, min(_launch.next_pow2(k), 64 if use_dot else 16))
                blocks = {"BLOCK_M": bm, "BLOCK_N": bn, "BLOCK_K": bk, "GROUP_M": 8}
            else:
                blocks = _SMALL
            grid = (_launch.cdiv(m, blocks["BLOCK_M"]) * _launch.cdiv(n, blocks["BLOCK_N"]), nb)
            matmul_kernel[grid](*args, **flags, **blocks)
        else:
            grid = lambda meta, nb=nb: (
                _launch.cdiv(m, meta["BLOCK_M"]) * _launch.cdiv(n, meta["BLOCK_N"]), nb)
            _tuned[grid](*args, **flags)
    return out


_MAX_GRID_Y = 65535


def _batch_ptr(x, b0):
    """The kernel pointer of x's matrix b0 (x itself for 0)."""
    return x.view(x.shape, x.strides, x.offset + b0 * x.strides[0]).ptr() if b0 else x.ptr()
