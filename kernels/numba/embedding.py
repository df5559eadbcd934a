"""Embedding lookup and its gradient, Numba CPU. Must match `kernels/reference/embedding.py`.

embedding(weight, idx) -> weight[idx]: weight (V, D), idx integers in [0, V) of any
shape (the op checked the range), result idx.shape + (D,).
embedding_backward(grad, idx, num_embeddings, padding_idx) -> dweight (V, D): the
rows of grad (idx.size, D) added into the rows idx names; row padding_idx stays 0.

Forward is a row copy (read and write idx.size·D elements), rows split across threads.
Backward is a scatter-add: a repeated index receives every one of its gradient rows,
so two threads must never add into the same row at once. Instead of atomics or
sorting the indices, threads split the D columns: each walks all the indices in order
and adds its own column block, so every output element is summed in index order —
the same additions as the reference's np.add.at, bit for bit, for any thread count.
"""
import numba
import numpy as np
from numba import prange

from kernels.numba._launch import kernel, launch

_PARALLEL_SIZE = 1 << 15      # elements copied or added: below this, one thread
_COLUMN_BLOCK = 128           # columns per backward task (512 B of float32 per row)


@numba.njit(cache=True)
def _copy_row(src, dst):
    for j in range(dst.shape[0]):
        dst[j] = src[j]


@numba.njit(cache=True)
def _gather_row(weight, idx, out, i):
    src = weight[idx[i]]
    dst = out[i]
    if src.strides[0] == src.itemsize:        # C-typed views: the copy vectorizes
        _copy_row(np.ascontiguousarray(src), np.ascontiguousarray(dst))
    else:
        _copy_row(src, dst)


@kernel(parallel=True)
def embedding_forward_kernel(weight, idx, out):
    """out[i, :] = weight[idx[i], :]; idx flat, out (len(idx), D) contiguous."""
    for i in prange(idx.shape[0]):
        _gather_row(weight, idx, out, i)


@kernel()
def embedding_forward_serial_kernel(weight, idx, out):
    for i in range(idx.shape[0]):
        _gather_row(weight, idx, out, i)


@numba.njit(cache=True)
def _add_row(src, dst):
    for j in range(dst.shape[0]):
        dst[j] += src[j]


@kernel(parallel=True)
def embedding_backward_kernel(grad, idx, padding_idx, out):
    """out (V, D) zeros += grad rows (len(idx), D) at idx, column blocks in parallel.
    grad and out are C-contiguous: their row slices are C-typed and the adds vectorize."""
    gc = np.ascontiguousarray(grad)
    oc = np.ascontiguousarray(out)
    d = out.shape[1]
    blocks = (d + _COLUMN_BLOCK - 1) // _COLUMN_BLOCK
    for blk in prange(blocks):
        lo = blk * _COLUMN_BLOCK
        hi = min(lo + _COLUMN_BLOCK, d)
        for i in range(idx.shape[0]):
            r = idx[i]
            if r != padding_idx:
                _add_row(gc[i, lo:hi], oc[r, lo:hi])


def embedding(weight, idx):
    d = weight.shape[1]
    flat = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
    out = np.empty((flat.size, d), dtype=weight.dtype)
    if out.size:
        big = out.size >= _PARALLEL_SIZE
        launch(embedding_forward_kernel if big else embedding_forward_serial_kernel,
               weight, flat, out)
    return out.reshape(idx.shape + (d,))


def embedding_backward(grad, idx, num_embeddings, padding_idx):
    d = grad.shape[-1]
    flat = np.ascontiguousarray(idx, dtype=np.int64).reshape(-1)
    out = np.zeros((num_embeddings, d), dtype=grad.dtype)
    if flat.size and d:
        launch(embedding_backward_kernel, np.ascontiguousarray(grad).reshape(-1, d), flat,
               -1 if padding_idx is None else int(padding_idx), out)
    return out
