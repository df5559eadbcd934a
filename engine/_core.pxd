# C types for compiling engine/_core.py with Cython (an "augmenting" .pxd).
# The .py stays the single source; these declarations turn its classes into C structs
# and its hot locals into C integers and typed references (attribute access becomes
# a struct field read instead of a dictionary lookup).
cimport cython

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

@cython.locals(t=TensorBase)
cpdef object wrap(object data, str device, bint requires_grad=*, object grad_fn=*)

@cython.locals(n=Py_ssize_t, i=Py_ssize_t, t=TensorBase, node=Node)
cpdef object _apply(object function, tuple args, dict kwargs)

@cython.locals(na=Py_ssize_t, nb=Py_ssize_t, n=Py_ssize_t, i=Py_ssize_t)
cpdef object broadcast_shapes(tuple a, tuple b)

@cython.locals(node=Node, parent=Node)
cpdef dict _count_dependencies(list roots)

@cython.locals(node=Node, parent=Node, i=Py_ssize_t, remaining=Py_ssize_t)
cpdef object run_backward(list roots, list root_grads, bint retain_graph, dict captured=*)
