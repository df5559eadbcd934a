"""The autograd runtime: what every op pays, whatever its size.

This file is plain Python and runs as such (the fallback, or with ENGINE_NO_EXT=1).
`setup.py` compiles the same source with Cython, using the C types declared in
`_core.pxd`, into the extension that `engine` imports by default. Keeping one source
for both means the two can never disagree; `bench/overhead.py` measures what the
compiled one buys.

It holds, and only holds, the per-op hot path:
- `TensorBase`: the fields of a tensor (the methods live in engine/tensor.py);
- `Node`: one recorded op (torch's `grad_fn`), also the `ctx` its Function sees;
- `apply`: run a Function's forward and record the node;
- `run_backward`: the iterative graph walk with gradient accumulation;
- `broadcast_shapes`: the shape arithmetic every binary op does.

Memory: a node holds its inputs' nodes (or the leaf tensors themselves), never its own
output, so the graph is freed by reference counting alone.
"""
import numpy as np

from engine.errors import DeviceError

_grad_enabled = True
_tensor_class = None   # engine.tensor.Tensor, registered at import (it subclasses TensorBase)
_kernels_for = None    # engine.dispatch.kernels_for(device) -> backend table, registered too

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved "
    "tensors after they have already been freed). Saved intermediate values of the graph "
    "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
    "you need to backward through the graph a second time or if you need to access saved "
    "tensors after calling backward.")


def is_grad_enabled():
    return _grad_enabled


def set_grad_enabled(mode):
    """Set grad mode; return the previous one (for context managers to restore)."""
    global _grad_enabled
    previous = _grad_enabled
    _grad_enabled = bool(mode)
    return previous


def register(tensor_class, kernels_for):
    global _tensor_class, _kernels_for
    _tensor_class = tensor_class
    _kernels_for = kernels_for


class TensorBase:
    """The fields of a tensor: backend array, device, and autograd metadata."""

    def __init__(self, data, device="cpu", requires_grad=False, grad_fn=None):
        self.data = data
        self.device = device
        self.requires_grad = requires_grad
        self.grad = None
        self.grad_fn = grad_fn


def wrap(data, device, requires_grad=False, grad_fn=None):
    """A new Tensor around a backend array, skipping the user-facing constructor."""
    if device == "cpu" and type(data) is not np.ndarray:
        data = np.asarray(data)   # numpy reductions of 0-d arrays return scalars
    t = _tensor_class.__new__(_tensor_class)
    t.data = data
    t.device = device
    t.requires_grad = requires_grad
    t.grad = None
    t.grad_fn = grad_fn
    return t


class Node:
    """One op in the graph. Its Function's forward and backward receive it as `ctx`.

    `parents[i]` is where input i's gradient goes: that input's Node, the leaf tensor
    itself, or None when the input needs no gradient. `shapes[i]` is input i's shape,
    so the walk can sum a broadcast gradient back down to it.
    """

    def __init__(self, function, kernels, device):
        self.function = function
        self.kernels = kernels
        self.device = device
        self.parents = ()
        self.shapes = ()
        self.saved = ()
        self.freed = False

    def save_for_backward(self, *arrays):
        self.saved = arrays

    @property
    def saved_tensors(self):
        if self.freed:
            raise RuntimeError(FREED_MESSAGE)
        return self.saved

    def release(self):
        """Drop saved arrays once backward has used them (unless retain_graph)."""
        self.freed = True
        self.saved = ()

    @property
    def name(self):
        return self.function.__name__ + "Backward"

    @property
    def next_functions(self):
        return self.parents

    def __repr__(self):
        return f"<{self.name}>"


def apply(function, *args, **kwargs):
    """Run `function.forward` on the arrays behind `args`; record a Node if needed.

    This is `Function.apply` (a classmethod, so `function` is the Function class).
    Tensors among `args` must share one device; other arguments pass through.
    `forward` returns an array, or a tuple whose first item is the differentiable
    output and whose others are returned as tensors without gradient (indices, say).
    """
    return _apply(function, args, kwargs)


def _apply(function, args, kwargs):
    device = None
    needs_grad = False
    raw = list(args)
    n = len(raw)
    for i in range(n):
        if isinstance(raw[i], TensorBase):
            t = raw[i]
            if device is None:
                device = t.device
            elif t.device != device:
                raise DeviceError(f"{function.__name__.lower()}: operands are on different "
                                  f"devices ({device} and {t.device}). Hint: move them with "
                                  f".to(device) first")
            if t.requires_grad:
                needs_grad = True
            raw[i] = t.data
    node = Node(function, _kernels_for(device), device)
    out = function.forward(node, *raw, **kwargs)
    extras = None
    if type(out) is tuple:
        extras = out[1:]
        out = out[0]

    if needs_grad and _grad_enabled:
        parents = [None] * n
        shapes = [None] * n
        for i in range(n):
            if isinstance(args[i], TensorBase):
                t = args[i]
                if t.requires_grad:
                    parents[i] = t if t.grad_fn is None else t.grad_fn
                    shapes[i] = t.data.shape
        node.parents = tuple(parents)
        node.shapes = tuple(shapes)
        result = wrap(out, device, True, node)
    else:
        result = wrap(out, device)
    if extras is None:
        return result
    return (result,) + tuple([wrap(e, device) for e in extras])


def broadcast_shapes(a, b):
    """The broadcast of two shape tuples, or None when they do not broadcast."""
    if a == b:
        return a
    na = len(a)
    nb = len(b)
    n = na if na > nb else nb
    out = [0] * n
    for i in range(1, n + 1):
        da = a[na - i] if i <= na else 1
        db = b[nb - i] if i <= nb else 1
        if da == db or db == 1:
            out[n - i] = da
        elif da == 1:
            out[n - i] = db
        else:
            return None
    return tuple(out)


def _count_dependencies(roots):
    """How many edges point at each node reachable from `roots` (iterative DFS)."""
    deps = {}
    stack = list(roots)
    seen = set(stack)
    while stack:
        node = stack.pop()
        for p in node.parents:
            if not isinstance(p, Node):       # None, or a leaf tensor
                continue
            parent = p
            deps[parent] = deps.get(parent, 0) + 1
            if parent not in seen:
                seen.add(parent)
                stack.append(parent)
    return deps


def _owns_alone(grad, handed):
    """Whether `grad` may become a leaf's .grad without a copy.

    Optimizers and users change .grad in place (zero_, add_), so it must share memory
    with nothing else: a fresh, writable numpy array (not a view) that no other leaf
    and no caller received. Backward functions return fresh arrays or views of their
    upstream gradient, never a saved array, so "fresh" is "not a view". Skipping this
    copy of the first gradient of every parameter saves a full pass over it.
    """
    return (type(grad) is np.ndarray and grad.base is None and grad.flags.writeable
            and id(grad) not in handed)


def _accumulate_leaf(leaf, grad, kernels, captured, handed):
    if captured is not None:
        if leaf in captured:
            previous = captured[leaf]
            captured[leaf] = grad if previous is None else kernels.add(previous, grad)
        return
    if leaf.grad is None:
        if not _owns_alone(grad, handed):
            grad = kernels.contiguous_copy(grad)
        handed.add(id(grad))
        leaf.grad = wrap(grad, leaf.device)
    else:
        leaf.grad.data = kernels.add(leaf.grad.data, grad)


def run_backward(roots, root_grads, retain_graph, captured=None):
    """Propagate `root_grads` from the `roots` tensors back through the graph.

    Without `captured`, gradients accumulate into the `.grad` of leaves. With it
    (autograd.grad), only the keys of `captured` — leaf tensors or nodes of non-leaf
    tensors — receive their gradient there, and `.grad` is left alone.
    """
    pending = {}
    root_nodes = []
    handed = {id(g) for g in root_grads}    # the caller keeps these: never alias them
    for tensor, grad in zip(roots, root_grads):
        node = tensor.grad_fn
        if node is None:
            _accumulate_leaf(tensor, grad, _kernels_for(tensor.device), captured, handed)
        elif node in pending:
            pending[node] = node.kernels.add(pending[node], grad)
        else:
            pending[node] = grad
            root_nodes.append(node)

    deps = _count_dependencies(root_nodes)
    ready = [node for node in root_nodes if node not in deps]
    while ready:
        node = ready.pop()
        # A node whose every consumer returned None for it has no gradient: it is not
        # run, but it still releases its own inputs, so their other paths go on.
        grad = pending.pop(node, None)
        input_grads = None
        if grad is not None:
            if captured is not None and node in captured:
                captured[node] = grad
            input_grads = node.function.backward(node, grad)
            if type(input_grads) is not tuple:
                input_grads = (input_grads,)
        if not retain_graph:
            node.release()
        kernels = node.kernels
        parents = node.parents
        shapes = node.shapes
        for i in range(len(parents)):
            if parents[i] is None:
                continue
            g = None if input_grads is None else input_grads[i]
            if g is not None and g.shape != shapes[i]:
                g = kernels.sum_to_shape(g, shapes[i])
            if not isinstance(parents[i], Node):
                if g is not None:
                    _accumulate_leaf(parents[i], g, kernels, captured, handed)
                continue
            parent = parents[i]
            if g is not None:
                if parent in pending:
                    pending[parent] = kernels.add(pending[parent], g)
                else:
                    pending[parent] = g
            remaining = deps[parent] - 1
            deps[parent] = remaining
            if remaining == 0:
                ready.append(parent)
    return captured
