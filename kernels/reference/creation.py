"""Allocation and host transfer. On the CPU the backend array is the numpy array
itself, so these are the identity or one numpy call; the GPU backend allocates
device memory instead.
"""
import numpy as np


def full(shape, value, dtype):
    return np.full(shape, value, dtype=dtype)


def arange(start, stop, step, dtype):
    return np.arange(start, stop, step, dtype=dtype)


def from_host(array):
    """A backend array holding `array`'s values (shares memory on the CPU)."""
    return array


def to_host(x):
    """The values as a numpy array (shares memory on the CPU)."""
    return x
