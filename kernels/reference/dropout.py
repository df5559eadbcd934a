"""Inverted dropout, numpy reference: the oracle the Numba kernel matches bit for bit.

Element i (in C order) of x is kept when a 24-bit uniform draw u_i >= p·2^24 and then
scaled by 1 / (1 - p); dropped elements become x · 0 (as torch's x * mask: NaN stays
NaN). The draw is a hash of (seed, i) — SplitMix64's output function applied to
seed + (i + 1)·γ — so any element's mask bit is computed on its own: threads need no
shared generator state, and backward regenerates the mask from the seed instead of
saving it.
"""
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def dropout_threshold(p):
    """Keep an element when its 24-bit draw is >= this (0: keep all, 2^24: none)."""
    return int(round(p * (1 << 24)))


def dropout_scale(p):
    return 0.0 if p >= 1.0 else 1.0 / (1.0 - p)


def keep_mask(seed, n, p):
    """Which of the first n elements a dropout with this seed and p keeps (bool, n)."""
    z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * _GAMMA
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)) >= np.uint64(dropout_threshold(p))


def dropout(x, p, seed):
    """x · mask / (1 - p) (x · 0 where dropped), x's dtype and shape; seed < 2^63."""
    mask = keep_mask(seed, x.size, p).reshape(x.shape)
    scale = x.dtype.type(dropout_scale(p))
    return x * np.where(mask, scale, x.dtype.type(0))
