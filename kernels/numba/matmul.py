"""Matrix multiply, Numba CPU. Must match `kernels/reference/matmul.py` (np.matmul).

Shapes: a (B, M, K), b (B, K, N) -> (B, M, N). The op layer has already broadcast the
batch dimensions (a batch of 1, or a stride-0 broadcast view, is read once, not copied
B times) and turned vectors into matrices; other ranks are taken too, as np.matmul
does. K == 0 gives zeros, M or N == 0 an empty result. Backward is two more matmuls
(dA = dC B^T, dB = A^T dC), so nothing is saved here.

The math, per batch, is 2MNK flops over MK + KN + MN elements:

    for i in range(M):
        for j in range(N):
            C[i, j] = sum(A[i, k] * B[k, j] for k in range(K))

The rungs, each checked against np.matmul in tests/test_numba_kernels.py
(GFLOP/s: float32, 1024², kernel alone, AMD EPYC (Zen 5) 2-vCPU VM, 1 / 2 threads;
OpenBLAS np.matmul ~120 / ~225 in the same process):
- `matmul_kernel1`: the loop above, on the inputs as they are (any strides). Every
  C[i, j] re-reads a row of A and a strided column of B: ~1 GFLOP/s. Kept for integer
  and bool matrices, and as the baseline of the lesson.
- `matmul_kernel2`: pack A (M, K) and B^T (N, K) contiguous (O(MK + NK), once; B^T by
  movement.py's tiled transposing copy: 0.8 ms at 1024² against 3.9 ms for
  np.ascontiguousarray), so both operands of every dot product are unit-stride (a
  B that is the transpose of a contiguous weight needs no copy at all); then compute
  C in 4×4 blocks: 16
  accumulators held in registers while k runs, each loaded A and B^T element used 4
  times, and the k loop (contiguous, fastmath reassoc) vectorizes into SIMD partial
  sums. ~145 GFLOP/s on one thread; edge rows/columns (M, N not multiples of 4) are
  plain dot products.
- `matmul_kernel3`: kernel2's blocks, tiled so the operands stay in cache: a 64-row
  panel of A and a 64-column panel of B^T (K ≤ ~2048: 512 KiB each, in a 2 MiB L2) are
  multiplied while resident, instead of streaming all of B^T (4 MiB at 1024²) through
  the cache for every 4 rows of A, which capped two threads at the L3 bandwidth
  (~150 GFLOP/s together). The (batch, row panel) pairs are split across threads
  with prange. ~165 / ~325 GFLOP/s. Used from 64³ multiply-adds up; below that
  kernel2 (a thread launch costs ~1 µs).

fastmath is limited to {"reassoc", "contract"} (partial sums and FMA), which is all
the vectorizer needs: NaN and inf propagate as in np.matmul. Sums accumulate in the
input precision, as BLAS does; float16 is computed in float32 and rounded once.
"""
import math

import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch
from kernels.numba.movement import contiguous_copy

_ndarray = np.ndarray
_F16 = np.dtype(np.float16)
_F32 = np.dtype(np.float32)
_FAST = {"reassoc", "contract"}
_PANEL_M = 64                 # rows of A per parallel task
_PANEL_N = 64                 # columns of B per inner tile
_PARALLEL_MACS = 64 ** 3      # B·M·N·K below which kernel2 runs alone


@kernel()
def matmul_kernel1(a, b, out):
    """Rung 1: the triple loop. a (Ba, M, K), b (Bb, K, N), any strides; Ba, Bb are B or 1."""
    for p in range(out.shape[0]):
        ap = a[p if a.shape[0] > 1 else 0]
        bp = b[p if b.shape[0] > 1 else 0]
        for i in range(out.shape[1]):
            for j in range(out.shape[2]):
                acc = out.dtype.type(0)
                for k in range(ap.shape[1]):
                    acc += ap[i, k] * bp[k, j]
                out[p, i, j] = acc


@numba.njit(cache=True, fastmath=_FAST)
def _matmul_tile(a, bt, c, i_lo, i_hi, j_lo, j_hi):
    """c[i_lo:i_hi, j_lo:j_hi] = a[i_lo:i_hi] @ bt[j_lo:j_hi].T; a (M, K), bt (N, K)
    contiguous. Rows of a and bt are taken as views indexed from 0: a loop over
    `c[i, j]` with j from j_lo does not vectorize (numba's negative-index wraparound
    check on a loop variable that could be negative), `row[k]` from 0 does."""
    K = a.shape[1]
    zero = c.dtype.type(0)
    i = i_lo
    while i + 4 <= i_hi:
        a0 = a[i]
        a1 = a[i + 1]
        a2 = a[i + 2]
        a3 = a[i + 3]
        j = j_lo
        while j + 4 <= j_hi:
            b0 = bt[j]
            b1 = bt[j + 1]
            b2 = bt[j + 2]
            b3 = bt[j + 3]
            c00 = c01 = c02 = c03 = zero
            c10 = c11 = c12 = c13 = zero
            c20 = c21 = c22 = c23 = zero
            c30 = c31 = c32 = c33 = zero
            for k in range(K):
                x0 = a0[k]
                x1 = a1[k]
                x2 = a2[k]
                x3 = a3[k]
                y0 = b0[k]
                y1 = b1[k]
                y2 = b2[k]
                y3 = b3[k]
                c00 += x0 * y0
                c01 += x0 * y1
                c02 += x0 * y2
                c03 += x0 * y3
                c10 += x1 * y0
                c11 += x1 * y1
                c12 += x1 * y2
                c13 += x1 * y3
                c20 += x2 * y0
                c21 += x2 * y1
                c22 += x2 * y2
                c23 += x2 * y3
                c30 += x3 * y0
                c31 += x3 * y1
                c32 += x3 * y2
                c33 += x3 * y3
            row = c[i]
            row[j], row[j + 1], row[j + 2], row[j + 3] = c00, c01, c02, c03
            row = c[i + 1]
            row[j], row[j + 1], row[j + 2], row[j + 3] = c10, c11, c12, c13
            row = c[i + 2]
            row[j], row[j + 1], row[j + 2], row[j + 3] = c20, c21, c22, c23
            row = c[i + 3]
            row[j], row[j + 1], row[j + 2], row[j + 3] = c30, c31, c32, c33
            j += 4
        for jj in range(j, j_hi):              # right edge: N not a multiple of 4
            bj = bt[jj]
            for ii in range(i, i + 4):
                ai = a[ii]
                acc = zero
                for k in range(K):
                    acc += ai[k] * bj[k]
                c[ii, jj] = acc
        i += 4
    for ii in range(i, i_hi):                  # bottom edge: M not a multiple of 4
        ai = a[ii]
        for jj in range(j_lo, j_hi):
            bj = bt[jj]
            acc = zero
            for k in range(K):
                acc += ai[k] * bj[k]
            c[ii, jj] = acc


@numba.njit(cache=True, fastmath=_FAST)
def matmul_kernel2(a, bt, out):
    """Rung 2: 4×4 register blocks. a (Ba, M, K), bt (Bb, N, K) contiguous, Ba, Bb B or 1."""
    for p in range(out.shape[0]):
        _matmul_tile(a[p if a.shape[0] > 1 else 0], bt[p if bt.shape[0] > 1 else 0],
                     out[p], 0, out.shape[1], 0, out.shape[2])


@numba.njit(cache=True, fastmath=_FAST, parallel=True)
def matmul_kernel3(a, bt, out):
    """Rung 3: rung 2 in cache-sized tiles, (batch, row panel) pairs across threads."""
    B, M, N = out.shape
    panels = (M + _PANEL_M - 1) // _PANEL_M
    for t in prange(B * panels):
        p = t // panels
        i_lo = (t - p * panels) * _PANEL_M
        i_hi = min(i_lo + _PANEL_M, M)
        ap = a[p if a.shape[0] > 1 else 0]
        bp = bt[p if bt.shape[0] > 1 else 0]
        cp = out[p]
        for j_lo in range(0, N, _PANEL_N):
            _matmul_tile(ap, bp, cp, i_lo, i_hi, j_lo, min(j_lo + _PANEL_N, N))


def _pack(x, dtype):
    """x as a C-contiguous array of dtype: itself if it is one, else a (tiled) copy."""
    if x.dtype != dtype:
        x = x.astype(dtype)
    return x if x.flags.c_contiguous else contiguous_copy(x)


def _batch_once(x):
    """A broadcast batch (stride 0) as a batch of one: read once, never copied B times."""
    return x[:1] if x.shape[0] > 1 and x.strides[0] == 0 else x


def _matmul3(a, b):
    """(Ba, M, K) @ (Bb, K, N) with Ba, Bb equal or 1."""
    (Ba, M, K), (Bb, K2, N) = a.shape, b.shape
    if K != K2:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, "
                         f"with gufunc signature (n?,k),(k,m?)->(n?,m?) (size {K2} is "
                         f"different from {K})")
    if Ba != Bb and Ba != 1 and Bb != 1:
        raise ValueError(f"matmul: batch dimensions {Ba} and {Bb} do not broadcast")
    result = np.result_type(a, b)
    out = np.empty((max(Ba, Bb), M, N), dtype=result)
    if result.kind != "f":
        # One compiled version per result dtype, not per pair of input dtypes.
        launch(matmul_kernel1, a.astype(result, copy=False), b.astype(result, copy=False), out)
        return out
    work = _F32 if result == _F16 else result
    a = _pack(_batch_once(a), work)
    bt = _pack(_batch_once(b).transpose(0, 2, 1), work)
    if work != result:
        out = np.empty(out.shape, dtype=work)
    if out.shape[0] * M * N * K < _PARALLEL_MACS:
        matmul_kernel2(a, bt, out)
    else:
        matmul_kernel3(a, bt, out)
    return out if work == result else out.astype(result)


def matmul(a, b):
    a = a if a.__class__ is _ndarray else np.asarray(a)
    b = b if b.__class__ is _ndarray else np.asarray(b)
    if a.ndim == 3 and b.ndim == 3:
        return _matmul3(a, b)
    # Other ranks, as np.matmul: vectors become matrices, batch dimensions broadcast.
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    count = math.prod(batch)
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:]).reshape((count,) + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:]).reshape((count,) + b2.shape[-2:])
    out = _matmul3(a3, b3).reshape(batch + (a2.shape[-2], b2.shape[-1]))
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out if out.__class__ is _ndarray else np.asarray(out)
