"""Embedding lookup and its gradient on the `cuda` device.

Same values as kernels/reference/embedding.py. weight (V, D) any strides; idx integers
in [0, V) of any shape (range checked by the op); embedding -> idx.shape + (D,)
contiguous, weight's dtype. embedding_backward(grad (..., D), idx, V, padding_idx) ->
dweight (V, D) in grad's dtype; the op saves only idx.

Forward is a row gather: a program copies BLOCK_I rows of BLOCK_D columns (read and
write idx.size·D elements, plus idx.size indices), a 2-d grid over (rows, columns) so
that long rows spread over programs too.

Backward is a scatter-add: a repeated index receives every one of its gradient rows,
and two programs may hold the same index. Each program adds its (BLOCK_I, BLOCK_D)
tile of grad into dweight with `tl.atomic_add` (read idx.size·D, atomically add
idx.size·D into V·D zeros); rows whose index is padding_idx are masked out, so that
row stays 0. Atomics make the order of the additions to a repeated row unspecified:
float results agree with the reference within rounding, not bit for bit (the Numba
backend is bit-exact; sorting the indices would buy that here at the cost of a sort).
float64 atomic add is native on NVIDIA GPUs since sm_60 (Triton lowers it to
atom.add.f64), so float64 takes the same path.
"""
import builtins

import triton
import triton.language as tl

from kernels.triton import _launch
from kernels.triton.buffer import empty
from kernels.triton.creation import full
from kernels.triton.movement import reshape


@triton.jit
def embedding_forward_kernel(w_ptr, idx_ptr, out_ptr, n, D, stride_i, stride_wv, stride_wd,
                             BLOCK_I: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_mask = rows < n
    mask = row_mask[:, None] & (cols < D)[None, :]
    index = tl.load(idx_ptr + rows * stride_i, mask=row_mask, other=0).to(tl.int64)
    v = tl.load(w_ptr + index[:, None] * stride_wv + cols[None, :] * stride_wd, mask=mask)
    tl.store(out_ptr + rows[:, None] * D + cols[None, :], v, mask=mask)


@triton.jit
def embedding_backward_kernel(g_ptr, idx_ptr, out_ptr, n, D, stride_i, stride_gi, stride_gd,
                              padding_idx, BLOCK_I: tl.constexpr, BLOCK_D: tl.constexpr):
    rows = tl.program_id(0).to(tl.int64) * BLOCK_I + tl.arange(0, BLOCK_I)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_D + tl.arange(0, BLOCK_D)
    index = tl.load(idx_ptr + rows * stride_i, mask=rows < n, other=0).to(tl.int64)
    row_mask = (rows < n) & (index != padding_idx)
    mask = row_mask[:, None] & (cols < D)[None, :]
    g = tl.load(g_ptr + rows[:, None] * stride_gi + cols[None, :] * stride_gd, mask=mask)
    tl.atomic_add(out_ptr + index[:, None] * D + cols[None, :], g, mask=mask)


def _blocks(rows, cols):
    block_d = builtins.max(16, builtins.min(_launch.next_pow2(cols), _launch.TILE_ELEMENTS))
    block_i = builtins.max(1, builtins.min(_launch.next_pow2(rows),
                                           _launch.TILE_ELEMENTS // block_d))
    return block_i, block_d


def _flat_indices(idx):
    """idx as a 1-d view (a copy only when its strides do not flatten)."""
    return reshape(idx, (idx.size,))


def embedding(weight, idx):
    d = weight.shape[1]
    out = empty(tuple(idx.shape) + (d,), weight.dtype)
    if out.size:
        flat = _flat_indices(idx)
        block_i, block_d = _blocks(idx.size, d)
        embedding_forward_kernel[(_launch.cdiv(idx.size, block_i), _launch.cdiv(d, block_d))](
            weight.ptr(), flat.ptr(), out.ptr(), idx.size, d, flat.strides[0], *weight.strides,
            BLOCK_I=block_i, BLOCK_D=block_d)
    return out


def embedding_backward(grad, idx, num_embeddings, padding_idx):
    d = grad.shape[-1]
    out = full((num_embeddings, d), 0, grad.dtype)
    if idx.size and d:
        flat = _flat_indices(idx)
        g = reshape(grad, (idx.size, d))
        block_i, block_d = _blocks(idx.size, d)
        embedding_backward_kernel[(_launch.cdiv(idx.size, block_i), _launch.cdiv(d, block_d))](
            g.ptr(), flat.ptr(), out.ptr(), idx.size, d, flat.strides[0], *g.strides,
            -1 if padding_idx is None else int(padding_idx), BLOCK_I=block_i, BLOCK_D=block_d)
    return out
