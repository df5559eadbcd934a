"""Compile each kernel once per dtype, not once per memory layout.

Numba compiles a new machine-code version of a function for every distinct tuple of
argument types, and an array's type includes its layout ('C', 'F' or 'A' = any
strides), whether it is read-only, and its ndim. So contiguous, transposed, strided
and broadcast (read-only) inputs of one dtype would each cost a compile of ~0.1-0.5 s
the first time they appear, in the middle of a training run.

`@kernel(...)` makes a `numba.njit(cache=True)` dispatcher that never compiles on its
own; `launch(kernel, *args)` compiles it, the first time a dtype combination is seen,
for one canonical signature: every array as layout 'A', read-only unless the kernel
writes it (parameters named `out` or `dst`), scalars as they are. Numba then passes
any array of that dtype and ndim to that one version. A kernel whose inner loop only
vectorizes at unit stride checks the stride at run time and takes a contiguous view
(`np.ascontiguousarray` of a contiguous 'A' array is the same memory, no copy).
"""
import inspect

import numba
import numpy as np

_OUTPUTS = ("out", "dst")


def kernel(**options):
    """Decorator: numba.njit(cache=True, **options), compiled only through launch()."""
    def decorate(fn):
        dispatcher = numba.njit(cache=True, **options)(fn)
        # What disable_compile() sets; it refuses a dispatcher with no version yet.
        dispatcher._can_compile = False
        dispatcher.writes = tuple(name in _OUTPUTS for name in inspect.signature(fn).parameters)
        return dispatcher
    return decorate


def _canonical(dispatcher, args):
    types = []
    for a, written in zip(args, dispatcher.writes):
        if isinstance(a, np.ndarray):
            types.append(numba.typeof(a).copy(layout="A", readonly=not written))
        else:
            types.append(numba.typeof(a))
    return tuple(types)


def launch(dispatcher, *args):
    """dispatcher(*args), compiling its canonical version for these dtypes if needed."""
    try:
        return dispatcher(*args)
    except TypeError:          # Numba: "No matching definition for argument type(s) ..."
        signature = _canonical(dispatcher, args)
        if signature in dispatcher.overloads:
            raise              # compiled already: the arguments are wrong, not new
    dispatcher._can_compile = True
    try:
        dispatcher.compile(signature)
    finally:
        dispatcher._can_compile = False
    return dispatcher(*args)
