"""Matrix multiply, numpy reference.

Shapes: a (B, M, K), b (B, K, N) -> (B, M, N). The op layer has already broadcast
the batch dimensions and turned vectors into matrices, so kernels see one case.
"""
import numpy as np


def matmul(a, b):
    return np.matmul(a, b)
