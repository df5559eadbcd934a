"""Kernel backends. Each subpackage exposes the same flat table of functions.

- `reference`: numpy, short and obviously correct: the oracle every kernel is tested against.
- `numba`: the CPU kernels.
- `triton`: the GPU kernels (joins later, same table).

Kernels take and return backend arrays (numpy arrays on the CPU) and numpy scalars;
they never see a Tensor and never record autograd.
"""
