"""Allocation and host transfer, Numba CPU: the reference's, re-exported.

CPU storage is the numpy array itself, so there is nothing to compile: `full` and
`arange` are one numpy call each (numpy's fill and arange loops already run at memory
bandwidth), `from_host` and `to_host` are the identity (they share memory).
"""
from kernels.reference.creation import arange, from_host, full, to_host  # noqa: F401

__all__ = ["arange", "from_host", "full", "to_host"]
