# C types for compiling engine/_core.py with Cython (an "augmenting" .pxd).
# The .py stays the single source; these declarations turn its classes into C structs
# and its hot locals into C integers.

cdef class TensorBase:
    cdef public object data
    cdef public str device
    cdef public bint requires_grad
    cdef public object grad
    cdef public object grad_fn
    cdef dict __dict__          # subclasses (Parameter) may add attributes

cdef class Node:
    cdef public object function
    cdef public object kernels
    cdef public str device
    cdef public tuple parents
    cdef public tuple shapes
    cdef public tuple saved
    cdef public bint freed
    cdef dict __dict__          # Functions keep small non-array facts on ctx

cpdef object wrap(object data, str device, bint requires_grad=*, object grad_fn=*)
