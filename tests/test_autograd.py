"""The autograd runtime: accumulation, grad mode, detach, autograd.grad, graph reuse,
retain_graph, deep graphs, and freeing the graph by reference counting alone."""
import gc
import weakref

import numpy as np
import pytest
import torch

import engine as eg
from helpers import assert_close


def leaf(values, dtype=eg.float64):
    return eg.tensor(values, dtype=dtype, requires_grad=True)


def torch_leaf(values):
    return torch.tensor(values, dtype=torch.float64, requires_grad=True)


def close(a, b, tol=1e-12):
    assert_close(a.numpy() if isinstance(a, eg.Tensor) else a,
                 b.detach().numpy() if isinstance(b, torch.Tensor) else b, tol, tol, "value")


# ---- accumulation ------------------------------------------------------------------------
def test_grad_accumulates_over_two_backward_calls():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    close(x.grad, np.array([2.0, -4.0, 6.0]) + 3.0)


def test_retained_graph_backward_twice_accumulates():
    x = leaf([0.5, 1.5])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    close(x.grad, 2 * first)


def test_leaf_grad_is_a_private_copy():
    """Two leaves fed by one upstream array (add) must not share their .grad storage."""
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    g = eg.tensor([1.0, 1.0], dtype=eg.float64)
    (a + b).backward(g)
    with eg.no_grad():
        a.grad.add_(10.0)
    close(b.grad, np.array([1.0, 1.0]))
    close(g, np.array([1.0, 1.0]))


def test_backward_on_a_leaf_accumulates_the_gradient_itself():
    x = leaf([1.0, 2.0])
    x.backward(eg.tensor([0.5, -1.0], dtype=eg.float64))
    close(x.grad, np.array([0.5, -1.0]))


def test_grad_has_the_leaf_dtype_and_shape():
    for dtype in (eg.float32, eg.float64):
        x = leaf([[1.0, 2.0, 3.0]], dtype)
        (x * 2.0).sum().backward()
        assert x.grad.dtype == dtype and x.grad.shape == (1, 3)
        assert not x.grad.requires_grad


# ---- graph structure --------------------------------------------------------------------
def test_leaves_and_nodes():
    x = leaf([1.0])
    y = x * 2.0
    assert x.is_leaf and x.grad_fn is None
    assert not y.is_leaf and y.requires_grad
    assert "Mul" in repr(y.grad_fn)
    assert y.grad_fn.next_functions[0] is x


def test_requires_grad_propagates_only_from_inputs_that_need_it():
    a, b = eg.ones(2), eg.ones(2)
    assert not (a * b).requires_grad
    c = leaf([1.0, 1.0], eg.float32)
    assert (a * c).requires_grad
    assert not (c > 0).requires_grad          # comparisons carry no gradient
    assert not c.argmax().requires_grad


def test_diamond_graph_matches_torch():
    """A node used by several consumers receives the sum of their gradients."""
    values = [0.3, -1.2, 0.7]

    def f(x, lib):
        y = x * 2.0
        z = y * y + lib.exp(y) - y.sin() * y     # y feeds four consumers
        w = z * y                                   # ... and z and y meet again
        return (w + z).sum()

    x, tx = leaf(values), torch_leaf(values)
    f(x, eg).backward()
    f(tx, torch).backward()
    close(x.grad, tx.grad)


def test_same_tensor_twice_in_one_op():
    x, tx = leaf([1.5, -0.5]), torch_leaf([1.5, -0.5])
    (x * x * x).sum().backward()
    (tx * tx * tx).sum().backward()
    close(x.grad, tx.grad)


def test_multiple_roots_through_autograd_grad():
    x = leaf([1.0, 2.0])
    y = x * 3.0
    z = y * y                  # z depends on y: y's node must wait for z's gradient
    gx, = eg.autograd.grad([y.sum(), z.sum()], [x])
    close(gx, 3.0 + 2 * 9.0 * np.array([1.0, 2.0]))


# ---- grad mode ------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = leaf([1.0])
    with eg.no_grad():
        y = x * 2.0
        assert not eg.is_grad_enabled()
    assert eg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None


def test_no_grad_decorator_keeps_the_function():
    @eg.no_grad()
    def double(t):
        """Doubles."""
        return t * 2.0

    x = leaf([1.0])
    assert not double(x).requires_grad
    assert double.__name__ == "double" and double.__doc__ == "Doubles."
    assert eg.is_grad_enabled()


def test_enable_grad_inside_no_grad_and_nesting():
    x = leaf([1.0])
    with eg.no_grad():
        with eg.enable_grad():
            assert (x * 2.0).requires_grad
        assert not (x * 2.0).requires_grad
        with eg.no_grad():
            pass
        assert not eg.is_grad_enabled()
    assert eg.is_grad_enabled()


def test_enable_grad_decorator_and_set_grad_enabled():
    @eg.enable_grad()
    def run(t):
        return t * 2.0

    x = leaf([1.0])
    with eg.no_grad():
        assert run(x).requires_grad
    with eg.set_grad_enabled(False):
        assert not (x * 2.0).requires_grad
    assert eg.is_grad_enabled()


def test_grad_mode_restored_after_an_exception():
    with pytest.raises(ValueError):
        with eg.no_grad():
            raise ValueError("boom")
    assert eg.is_grad_enabled()


# ---- detach -------------------------------------------------------------------------------------
def test_detach_shares_data_and_stops_gradients():
    x = leaf([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.numpy())
    y = (x * d).sum()             # d is a constant: dy/dx = d
    y.backward()
    close(x.grad, np.array([1.0, 2.0]))


# ---- autograd.grad ------------------------------------------------------------------------------
def test_autograd_grad_leaves_grad_untouched():
    x = leaf([1.0, 2.0])
    gx, = eg.autograd.grad((x * x).sum(), x)
    close(gx, np.array([2.0, 4.0]))
    assert x.grad is None


def test_autograd_grad_of_non_leaf_inputs():
    x, tx = leaf([0.5, -1.0]), torch_leaf([0.5, -1.0])
    h, th = x.tanh(), tx.tanh()
    out, tout = (h * h).sum() * x.sum(), (th * th).sum() * tx.sum()
    gh, gx = eg.autograd.grad(out, [h, x])
    tgh, tgx = torch.autograd.grad(tout, [th, tx])
    close(gh, tgh)
    close(gx, tgx)


def test_autograd_grad_with_grad_outputs():
    x = leaf([1.0, 2.0, 3.0])
    g = eg.tensor([0.5, -1.0, 2.0], dtype=eg.float64)
    gx, = eg.autograd.grad(x * x, x, grad_outputs=g)
    close(gx, 2 * np.array([1.0, 2.0, 3.0]) * np.array([0.5, -1.0, 2.0]))


def test_autograd_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    gx, gu = eg.autograd.grad((x * 2.0).sum(), [x, unused], allow_unused=True)
    close(gx, np.array([2.0]))
    assert gu is None


def test_autograd_grad_frees_the_graph_unless_retained():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    eg.autograd.grad(y, x, retain_graph=True)
    eg.autograd.grad(y, x)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        eg.autograd.grad(y, x)


# ---- retain_graph and deep graphs ----------------------------------------------------------
def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x.exp()).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="Specify retain_graph=True"):
        y.backward()


def test_hundred_thousand_node_chain():
    """The walk is iterative: a 100,000-op chain neither recurses nor crawls."""
    x = eg.zeros(1, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward(eg.ones(1))
    assert x.grad.tolist() == [1.0]
    assert y.item() == 100_000.0
    del y                         # freeing the chain must not recurse either


# ---- memory: the graph is freed by reference counting alone ---------------------------------
def _nodes(root):
    """Every Node reachable from `root` (a grad_fn)."""
    seen, stack = [], [root]
    while stack:
        node = stack.pop()
        if any(node is s for s in seen):
            continue
        seen.append(node)
        stack.extend(p for p in node.next_functions
                     if p is not None and not isinstance(p, eg.Tensor))
    return seen


@pytest.fixture
def gc_disabled():
    """Reference counting only: anything that survives this needed the cycle collector."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def _graph_holding_an_intermediate():
    """out = sum(h * h) with h = exp(x); only the graph keeps h's array alive.

    Tensors do not take weak references; numpy arrays do, so watch h's backend array
    (a numpy array on the CPU backends), saved by Exp (its output) and by Mul.
    """
    x = leaf(np.linspace(-1.0, 1.0, 1000))
    h = x.exp()
    assert type(h.data) is np.ndarray
    watched = weakref.ref(h.data)
    out = (h * h).sum()
    del h
    return x, out, watched


def test_backward_frees_saved_intermediates(gc_disabled):
    x, out, watched = _graph_holding_an_intermediate()
    assert watched() is not None, "the graph should hold the saved intermediate"
    out.backward()
    assert watched() is None, "backward kept a saved intermediate alive"
    assert all(node.saved == () for node in _nodes(out.grad_fn))
    assert x.grad is not None and out.requires_grad


def test_retained_graph_keeps_intermediates_until_the_output_dies(gc_disabled):
    x, out, watched = _graph_holding_an_intermediate()
    out.backward(retain_graph=True)
    assert watched() is not None
    del out
    assert watched() is None, "the graph outlived its output: a reference cycle?"


def test_dropped_graph_is_freed_without_backward(gc_disabled):
    x, out, watched = _graph_holding_an_intermediate()
    del out
    assert watched() is None, "the graph outlived its output: a reference cycle?"


# ---- the upstream gradient ---------------------------------------------------------------------
@pytest.mark.parametrize("gradient", [eg.ones(3, dtype=eg.float64), eg.tensor([1, 1, 1])],
                         ids=["float64", "int64"])
def test_upstream_gradient_takes_the_output_dtype(gradient):
    """As torch: a gradient of another dtype is cast, the leaf's .grad keeps its dtype."""
    x = eg.ones(3, requires_grad=True)
    (x * 2.0).backward(gradient)
    assert x.grad.dtype is eg.float32 and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_non_contiguous_upstream_gradient():
    g = np.arange(12.0).reshape(4, 3).T            # (3, 4), column-major
    x = leaf(np.ones((3, 4)))
    (x.exp() * 2.0).backward(eg.from_numpy(g))
    close(x.grad, 2.0 * np.e * g)


def test_leaf_grads_never_share_memory():
    # add's backward hands the same array to both leaves; the runtime may keep one
    # without a copy, never both, and never the caller's own gradient.
    a = eg.randn(3, requires_grad=True)
    b = eg.randn(3, requires_grad=True)
    upstream = eg.randn(3)
    (a + b).backward(upstream)
    assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    assert not np.shares_memory(a.grad.numpy(), upstream.numpy())
    with eg.no_grad():
        a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), upstream.numpy())


def test_leaf_grad_is_writable_after_a_broadcast_backward():
    # expand's gradient arrives as a read-only view: the leaf gets its own copy.
    x = eg.randn(1, 3, requires_grad=True)
    x.expand(4, 3).sum().backward()
    with eg.no_grad():
        x.grad.mul_(2.0)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((1, 3), 8.0, np.float32))


class _NoGradThrough(eg.autograd.Function):
    """Identity forward whose backward gives its input no gradient."""

    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return None


def test_a_none_gradient_does_not_cut_the_other_paths():
    # y feeds both a normal path and one that returns None: y's node must still run.
    x = eg.ones(2, requires_grad=True)
    y = x * 3.0
    ((y * 2.0).sum() + _NoGradThrough.apply(y).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])


def test_a_node_reached_only_by_none_gradients_is_skipped():
    x = eg.ones(2, requires_grad=True)
    w = eg.ones(2, requires_grad=True)
    y = x * 3.0
    (_NoGradThrough.apply(y).sum() + w.sum()).backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0])
