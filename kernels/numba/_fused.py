"""Building blocks of the fused kernels (kernels/numba/rnn.py, kernels/numba/attention.py).

1. Transcendentals that vectorize. Numba calls libm for np.exp and np.tanh one element
   at a time: ~4 ns per expf and ~13 ns per tanhf here (AMD EPYC Zen 5), which would
   cost an LSTM step as much as its GEMMs and an attention tile half of its time. The
   versions below are branch-free arithmetic that LLVM turns into SIMD code: ~0.12 ns
   per element for exp (30× np.exp), ~0.2 ns for sigmoid_, ~0.25 ns for tanh_.
   - `exp_(v)`: Cody-Waite range reduction v = k·ln2 + r, |r| <= ln2/2 (ln2 split in
     two constants so k·ln2_hi is exact), e^r = 1 + r + r² Q(r), then 2^k built in the
     exponent bits. Q is Cephes' expf polynomial in float32 (max error ~1 ulp, measured
     8e-8 relative) and the Taylor series to r¹³ in float64 (3e-16 relative).
     Arguments below the smallest normal's log give exactly 0 (exp(-inf) = 0, which the
     masks rely on); NaN gives NaN. Meant for v <= 0, the only arguments the callers
     have (x - max, -|z|); positive v are fine up to ~88 (float32) / ~709 (float64).
   - `expm1_(v)` (v <= 0): e^v - 1 without the cancellation of exp_(v) - 1 near 0
     (r + r² Q(r) directly when k = 0), so that tanh keeps its relative accuracy for
     small arguments.
   - `sigmoid_(z)`, `tanh_(z)`: from exp_/expm1_ of -|z|, never overflowing:
     σ(z) = 1/(1 + e^-z) for z >= 0, e^z/(1 + e^z) below; tanh(|z|) = -m/(2 + m) with
     m = expm1(-2|z|). Max error ~2 ulp float32, ~1e-15 float64; NaN stays NaN.
   Each has a float32 and a float64 implementation; the `overload` picks one when the
   caller is compiled (a float64 kernel never runs the float32 polynomial), and the
   constants are of the argument's dtype (a Python 1 would promote float32 to float64).
   error_model="numpy" everywhere: numba's default checks every division for zero to
   raise ZeroDivisionError, a branch that stops the loop vectorizing (sigmoid_ in a
   loop: 3 ns → 0.2 ns an element).

2. `matmul_nn_tile(a, b, c, M, K, N)`: c[:M, :N] += a[:M, :K] @ b[:K, :N] where b's and
   c's rows are contiguous, a any layout (only read as scalars). The "axpy" GEMM: for
   8 rows of c and 4 values of k, c[i, :] += Σ_k a[i, k] b[k, :] with the j loop over
   contiguous rows vectorized: per 16-float vector of j, 4 loads of b, 8 loads and 8
   stores of c for 32 FMAs (unrolling k by 4 cut the c loads/stores 4×: 56 → 157
   GFLOP/s on 64×1024 @ 1024×384 float32, one thread). It multiplies by b without
   transposing it, where kernels/numba/matmul.py's 4×4 dot-product blocks want bᵀ
   packed: the LSTM backward (dx = dz @ w_ih, w_ih (4H, in) as stored) and
   attention's P @ V need no transposed copy (a 1024×384 float32 transpose costs about
   as much as the product itself, ~0.3 ms). `matmul_nn_tile2` does two products that
   share a in one pass over a.
"""
import numba
import numpy as np
from numba import types
from numba.extending import overload

_FAST = {"reassoc", "contract"}
_OPTIONS = {"cache": True, "error_model": "numpy"}   # numpy: no ZeroDivisionError branch
_F32 = np.float32
_F64 = np.float64


# ---- float32 ---------------------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def _reduce32(v):
    """(k, t) with v = k·ln2 + r and t = e^r - 1, v clamped to the normal range."""
    v = _F32(-87.0) if v < _F32(-87.0) else v          # NaN passes, and gives NaN
    k = np.floor(v * _F32(1.4426950408889634) + _F32(0.5))
    r = (v - k * _F32(0.693359375)) + k * _F32(2.12194440e-4)
    q = ((((_F32(1.9875691500e-4) * r + _F32(1.3981999507e-3)) * r + _F32(8.3334519073e-3)) * r
          + _F32(4.1665795894e-2)) * r + _F32(1.6666665459e-1)) * r + _F32(5.0000001201e-1)
    return k, r + (r * r) * q


@numba.njit(cache=True, error_model="numpy")
def _pow2_32(k):
    return np.int32((np.int32(k) + np.int32(127)) << 23).view(np.float32)


@numba.njit(cache=True, error_model="numpy")
def _exp32(v):
    k, t = _reduce32(v)
    e = (_F32(1.0) + t) * _pow2_32(k)
    return _F32(0.0) if v < _F32(-87.0) else e


@numba.njit(cache=True, error_model="numpy")
def _expm1_32(v):
    k, t = _reduce32(v)
    m = (_F32(1.0) + t) * _pow2_32(k) - _F32(1.0)
    m = t if k == _F32(0.0) else m
    return _F32(-1.0) if v < _F32(-87.0) else m


# ---- float64 ---------------------------------------------------------------------------
@numba.njit(cache=True, error_model="numpy")
def _reduce64(v):
    v = _F64(-708.0) if v < _F64(-708.0) else v
    k = np.floor(v * _F64(1.4426950408889634) + _F64(0.5))
    r = (v - k * _F64(0.6931471803691238)) - k * _F64(1.9082149292705877e-10)
    q = _F64(1.0 / 6227020800.0)                        # 1/13!, then Horner down to 1/2!
    q = q * r + _F64(1.0 / 479001600.0)
    q = q * r + _F64(1.0 / 39916800.0)
    q = q * r + _F64(1.0 / 3628800.0)
    q = q * r + _F64(1.0 / 362880.0)
    q = q * r + _F64(1.0 / 40320.0)
    q = q * r + _F64(1.0 / 5040.0)
    q = q * r + _F64(1.0 / 720.0)
    q = q * r + _F64(1.0 / 120.0)
    q = q * r + _F64(1.0 / 24.0)
    q = q * r + _F64(1.0 / 6.0)
    q = q * r + _F64(0.5)
    return k, r + (r * r) * q


@numba.njit(cache=True, error_model="numpy")
def _pow2_64(k):
    return np.int64((np.int64(k) + np.int64(1023)) << 52).view(np.float64)


@numba.njit(cache=True, error_model="numpy")
def _exp64(v):
    k, t = _reduce64(v)
    e = (_F64(1.0) + t) * _pow2_64(k)
    return _F64(0.0) if v < _F64(-708.0) else e


@numba.njit(cache=True, error_model="numpy")
def _expm1_64(v):
    k, t = _reduce64(v)
    m = (_F64(1.0) + t) * _pow2_64(k) - _F64(1.0)
    m = t if k == _F64(0.0) else m
    return _F64(-1.0) if v < _F64(-708.0) else m


# ---- the dtype-generic names the kernels call --------------------------------------------
def exp_(v):
    """e^v, vectorizable (see the module docstring)."""
    raise NotImplementedError("only callable from a numba kernel")


def expm1_(v):
    """e^v - 1 for v <= 0, vectorizable."""
    raise NotImplementedError("only callable from a numba kernel")


@overload(exp_, jit_options=_OPTIONS)
def _exp_overload(v):
    if v == types.float32:
        return lambda v: _exp32(v)
    return lambda v: _exp64(v)


@overload(expm1_, jit_options=_OPTIONS)
def _expm1_overload(v):
    if v == types.float32:
        return lambda v: _expm1_32(v)
    return lambda v: _expm1_64(v)


def sigmoid_(z):
    """1 / (1 + e^-z), vectorizable, never overflowing."""
    raise NotImplementedError("only callable from a numba kernel")


def tanh_(z):
    """tanh(z), vectorizable, relatively accurate near 0."""
    raise NotImplementedError("only callable from a numba kernel")


def _constants(z):
    # Constants of z's own dtype: a Python 1 or 2 would promote float32 math to float64.
    dtype = _F32 if z == types.float32 else _F64
    return dtype(1), dtype(2)


@overload(sigmoid_, jit_options=_OPTIONS)
def _sigmoid_overload(z):
    one, _ = _constants(z)

    def impl(z):
        e = exp_(-abs(z))
        s = one / (one + e)
        return s if z >= 0 else e * s
    return impl


@overload(tanh_, jit_options=_OPTIONS)
def _tanh_overload(z):
    _, two = _constants(z)

    def impl(z):
        m = expm1_(-two * abs(z))
        t = -m / (m + two)
        return t if z >= 0 else -t
    return impl


# ---- the GEMM block ------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def matmul_nn_tile(a, b, c, M, K, N):
    """c[:M, :N] += a[:M, :K] @ b[:K, :N]; b and c with unit-stride rows ('C' layout)."""
    i = 0
    while i + 8 <= M:
        c0, c1, c2, c3 = c[i], c[i + 1], c[i + 2], c[i + 3]
        c4, c5, c6, c7 = c[i + 4], c[i + 5], c[i + 6], c[i + 7]
        k = 0
        while k + 4 <= K:
            a00, a01, a02, a03 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            a10, a11, a12, a13 = a[i + 1, k], a[i + 1, k + 1], a[i + 1, k + 2], a[i + 1, k + 3]
            a20, a21, a22, a23 = a[i + 2, k], a[i + 2, k + 1], a[i + 2, k + 2], a[i + 2, k + 3]
            a30, a31, a32, a33 = a[i + 3, k], a[i + 3, k + 1], a[i + 3, k + 2], a[i + 3, k + 3]
            a40, a41, a42, a43 = a[i + 4, k], a[i + 4, k + 1], a[i + 4, k + 2], a[i + 4, k + 3]
            a50, a51, a52, a53 = a[i + 5, k], a[i + 5, k + 1], a[i + 5, k + 2], a[i + 5, k + 3]
            a60, a61, a62, a63 = a[i + 6, k], a[i + 6, k + 1], a[i + 6, k + 2], a[i + 6, k + 3]
            a70, a71, a72, a73 = a[i + 7, k], a[i + 7, k + 1], a[i + 7, k + 2], a[i + 7, k + 3]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(N):
                x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                c0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                c1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                c2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                c3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
                c4[j] += a40 * x0 + a41 * x1 + a42 * x2 + a43 * x3
                c5[j] += a50 * x0 + a51 * x1 + a52 * x2 + a53 * x3
                c6[j] += a60 * x0 + a61 * x1 + a62 * x2 + a63 * x3
                c7[j] += a70 * x0 + a71 * x1 + a72 * x2 + a73 * x3
            k += 4
        while k < K:                                   # K not a multiple of 4
            a0, a1, a2, a3 = a[i, k], a[i + 1, k], a[i + 2, k], a[i + 3, k]
            a4, a5, a6, a7 = a[i + 4, k], a[i + 5, k], a[i + 6, k], a[i + 7, k]
            bk = b[k]
            for j in range(N):
                x = bk[j]
                c0[j] += a0 * x
                c1[j] += a1 * x
                c2[j] += a2 * x
                c3[j] += a3 * x
                c4[j] += a4 * x
                c5[j] += a5 * x
                c6[j] += a6 * x
                c7[j] += a7 * x
            k += 1
        i += 8
    while i < M:                                       # M not a multiple of 8: row by row
        ci = c[i]
        k = 0
        while k + 4 <= K:
            a0, a1, a2, a3 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(N):
                ci[j] += a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
            k += 4
        while k < K:
            a0 = a[i, k]
            bk = b[k]
            for j in range(N):
                ci[j] += a0 * bk[j]
            k += 1
        i += 1


@numba.njit(cache=True, fastmath=_FAST, error_model="numpy")
def matmul_nn_tile2(a, b, c, N, d, e, N2, M, K):
    """c[:M, :N] += a @ b[:, :N] and e[:M, :N2] += a @ d[:, :N2] with one pass over a:
    matmul_nn_tile for two products that share their left operand (an LSTM's dz times
    w_ih and w_hh; dzᵀ times x and h). The 32 values of a per 8×4 block are loaded
    once for both, and the two j loops make one long row (N + N2): ~15% faster than two
    matmul_nn_tile calls at N = 128 and 256. N or N2 may be 0 (one product only)."""
    i = 0
    while i + 8 <= M:
        c0, c1, c2, c3 = c[i], c[i + 1], c[i + 2], c[i + 3]
        c4, c5, c6, c7 = c[i + 4], c[i + 5], c[i + 6], c[i + 7]
        e0, e1, e2, e3 = e[i], e[i + 1], e[i + 2], e[i + 3]
        e4, e5, e6, e7 = e[i + 4], e[i + 5], e[i + 6], e[i + 7]
        k = 0
        while k + 4 <= K:
            a00, a01, a02, a03 = a[i, k], a[i, k + 1], a[i, k + 2], a[i, k + 3]
            a10, a11, a12, a13 = a[i + 1, k], a[i + 1, k + 1], a[i + 1, k + 2], a[i + 1, k + 3]
            a20, a21, a22, a23 = a[i + 2, k], a[i + 2, k + 1], a[i + 2, k + 2], a[i + 2, k + 3]
            a30, a31, a32, a33 = a[i + 3, k], a[i + 3, k + 1], a[i + 3, k + 2], a[i + 3, k + 3]
            a40, a41, a42, a43 = a[i + 4, k], a[i + 4, k + 1], a[i + 4, k + 2], a[i + 4, k + 3]
            a50, a51, a52, a53 = a[i + 5, k], a[i + 5, k + 1], a[i + 5, k + 2], a[i + 5, k + 3]
            a60, a61, a62, a63 = a[i + 6, k], a[i + 6, k + 1], a[i + 6, k + 2], a[i + 6, k + 3]
            a70, a71, a72, a73 = a[i + 7, k], a[i + 7, k + 1], a[i + 7, k + 2], a[i + 7, k + 3]
            b0, b1, b2, b3 = b[k], b[k + 1], b[k + 2], b[k + 3]
            for j in range(N):
                x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                c0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                c1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                c2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                c3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
                c4[j] += a40 * x0 + a41 * x1 + a42 * x2 + a43 * x3
                c5[j] += a50 * x0 + a51 * x1 + a52 * x2 + a53 * x3
                c6[j] += a60 * x0 + a61 * x1 + a62 * x2 + a63 * x3
                c7[j] += a70 * x0 + a71 * x1 + a72 * x2 + a73 * x3
            b0, b1, b2, b3 = d[k], d[k + 1], d[k + 2], d[k + 3]
            for j in range(N2):
                x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
                e0[j] += a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3
                e1[j] += a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3
                e2[j] += a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3
                e3[j] += a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3
                e4[j] += a40 * x0 + a41 * x1 + a42 * x2 + a43 * x3
                e5[j] += a50 * x0 + a51 * x1 + a52 * x2 + a53 * x3
                e6[j] += a60 * x0 + a61 * x1 + a62 * x2 + a63 * x3
                e7[j] += a70 * x0 + a71 * x1 + a72 * x2 + a73 * x3
            k += 4
        i += 8
    # The rest (M % 8 rows, K % 4 values of k): the one-product tile, once per product.
    if i < M or K % 4:
        k0 = K - K % 4 if i > 0 else 0
        if i > 0 and K % 4:                       # full row blocks: their last K % 4 ks
            matmul_nn_tile(a[:i, k0:], b[k0:], c, i, K - k0, N)
            matmul_nn_tile(a[:i, k0:], d[k0:], e, i, K - k0, N2)
        if i < M:                                 # the last M % 8 rows, every k
            matmul_nn_tile(a[i:], b, c[i:], M - i, K, N)
            matmul_nn_tile(a[i:], d, e[i:], M - i, K, N2)
