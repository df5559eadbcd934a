"""Reverse-mode autograd: Functions, grad mode, and the entry points of the walk.

An op is a `Function` with two static methods that see backend arrays, not tensors:

    class Mul(Function):
        @staticmethod
        def forward(ctx, a, b):            # arrays in, array out
            ctx.save_for_backward(a, b)
            return ctx.kernels.mul(a, b)

        @staticmethod
        def backward(ctx, grad):           # one gradient per forward argument
            a, b = ctx.saved_tensors
            return ctx.kernels.mul(grad, b), ctx.kernels.mul(grad, a)

`Mul.apply(x, y)` runs it on tensors and records the graph node (engine/_core.py).
Gradients may come back in the broadcast shape: the walk sums them down.
"""
import functools

from engine._runtime import core as _core
from engine.errors import ShapeError


class Function:
    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):
        raise NotImplementedError("this op is not differentiable")

    # Function.apply(*args, **kwargs): the runtime's apply, with the class as `function`.
    apply = classmethod(_core.apply)


class _GradMode:
    """Context manager and decorator that sets grad mode (no_grad, enable_grad)."""

    def __init__(self, mode):
        self.mode = mode
        self._previous = []

    def __enter__(self):
        self._previous.append(_core.set_grad_enabled(self.mode))

    def __exit__(self, *exc):
        _core.set_grad_enabled(self._previous.pop())

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)(self.mode):
                return fn(*args, **kwargs)
        return wrapper


def no_grad():
    return _GradMode(False)


def enable_grad():
    return _GradMode(True)


def set_grad_enabled(mode):
    return _GradMode(mode)


is_grad_enabled = _core.is_grad_enabled


def _root_gradients(outputs, grad_outputs, op):
    grads = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError(f"{op}: element 0 of tensors does not require grad and does "
                               f"not have a grad_fn. Hint: the output was computed under "
                               f"no_grad() or from tensors without requires_grad=True")
        if g is None:
            if out.numel() != 1:
                raise RuntimeError(f"{op}: grad can be implicitly created only for scalar "
                                   f"outputs (got shape {tuple(out.shape)}). Hint: pass "
                                   f"gradient= of the output's shape")
            g = _core._kernels_for(out.device).full(out.data.shape, 1, out.data.dtype)
        else:
            g_data = g.data if isinstance(g, _core.TensorBase) else g
            if tuple(g_data.shape) != tuple(out.shape):
                raise ShapeError(f"{op}: gradient has shape {tuple(g_data.shape)} but the "
                                 f"output has shape {tuple(out.shape)}. Hint: pass a gradient "
                                 f"of the output's shape")
            g = g_data
            if g.dtype != out.data.dtype:
                # As torch: the gradient takes the output's dtype, so that a float64 (or
                # integer) gradient cannot turn a float32 leaf's .grad into float64.
                g = _core._kernels_for(out.device).astype(g, out.data.dtype)
        grads.append(g)
    return grads


def backward(tensor, gradient=None, retain_graph=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's .grad (Tensor.backward)."""
    grads = _root_gradients([tensor], [gradient], "backward")
    _core.run_backward([tensor], grads, retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=False, allow_unused=False):
    """The gradients of `outputs` with respect to `inputs`, as a tuple of tensors.

    Leaves' `.grad` is not touched. An input that `outputs` do not depend on raises,
    unless `allow_unused` (then its gradient is None), as in torch.
    """
    single = isinstance(outputs, _core.TensorBase)
    outputs = [outputs] if single else list(outputs)
    inputs = [inputs] if isinstance(inputs, _core.TensorBase) else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, _core.TensorBase):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError("grad: one of the inputs does not require grad. Hint: create "
                               "it with requires_grad=True")
    grads = _root_gradients(outputs, grad_outputs, "grad")
    keys = [x if x.grad_fn is None else x.grad_fn for x in inputs]
    captured = _core.run_backward(outputs, grads, retain_graph, {k: None for k in keys})
    result = []
    for x, key in zip(inputs, keys):
        g = captured[key]
        if g is None and not allow_unused:
            raise RuntimeError("grad: one of the differentiated tensors appears to not have "
                               "been used in the graph. Hint: set allow_unused=True if this "
                               "is the desired behavior")
        result.append(None if g is None else _core.wrap(g, x.device))
    return tuple(result)
