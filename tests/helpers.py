"""The two checks every op goes through.

- `check_against_torch(engine_fn, torch_fn, inputs)`: forward values, shape, dtype and
  requires_grad against torch, then backward with a random upstream gradient (the
  same for both), comparing every input's gradient.
- `gradcheck(fn, inputs)`: the engine's float64 Jacobian against central differences,
  and a second backward (retain_graph=True) that must give bitwise the same gradients.

Inputs are numpy arrays (they become tensors: floating ones require grad) and any
other values (ints, slices, tuples, `DType("float64")`), passed through unchanged. A
non-contiguous numpy input (transposed, strided) reaches the engine non-contiguous.
The tolerances are the project's; never loosen them to make a test pass.
"""
import numpy as np
import torch

import engine as eg

# float32: forward rtol 1.3e-6 / atol 1e-5 (torch.testing's float32 defaults), gradients
# rtol 1e-3 / atol 1e-4. float64: 1e-7 both ways.
TOLERANCES = {
    np.dtype(np.float32): {"forward": (1.3e-6, 1e-5), "grad": (1e-3, 1e-4)},
    np.dtype(np.float64): {"forward": (1e-7, 1e-7), "grad": (1e-7, 1e-7)},
}


class DType:
    """A dtype argument: becomes `engine.<name>` on the engine side, `torch.<name>` on torch's."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return self.name


# ---- inputs -------------------------------------------------------------------------
def with_layout(a, dtype=None):
    """`a` as `dtype`, keeping it non-contiguous if it was (astype would compact it).

    A transposed (F-ordered) input stays transposed; any other non-contiguous input
    becomes a view with gaps between elements (every stride doubled).
    """
    dtype = a.dtype if dtype is None else np.dtype(dtype)
    if a.flags.c_contiguous:
        return np.array(a, dtype=dtype, order="C", copy=True)
    if a.flags.f_contiguous:
        return np.asfortranarray(a, dtype=dtype).copy(order="F")
    out = np.empty(a.shape + (2,), dtype=dtype)[..., 0]
    out[...] = a
    return out


def float_dtype_for(a, dtype):
    """The dtype input `a` takes in a run at floating `dtype` (ints and bools keep theirs)."""
    return np.dtype(dtype) if a.dtype.kind == "f" and dtype is not None else a.dtype


def prepare(inputs, dtype=None):
    """The numpy inputs cast to `dtype` (floating ones only), layouts kept."""
    out = []
    for a in inputs:
        if isinstance(a, np.ndarray):
            b = with_layout(a, float_dtype_for(a, dtype))
            if not a.flags.c_contiguous and a.size > 1:
                assert not b.flags.c_contiguous, "a non-contiguous input lost its layout"
            out.append(b)
        else:
            out.append(a)
    return out


def _needs_grad(a, grad):
    return grad and isinstance(a, np.ndarray) and a.dtype.kind == "f"


def engine_inputs(arrays, grad=True):
    """Engine tensors sharing memory with the arrays (so layouts reach the engine)."""
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            t = eg.from_numpy(a)
            if _needs_grad(a, grad):
                t.requires_grad_()
            out.append(t)
        elif isinstance(a, DType):
            out.append(getattr(eg, a.name))
        else:
            out.append(a)
    return out


def torch_inputs(arrays, grad=True):
    out = []
    for a in arrays:
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(np.array(a, copy=True))
            if _needs_grad(a, grad):
                t.requires_grad_()
            out.append(t)
        elif isinstance(a, DType):
            out.append(getattr(torch, a.name))
        else:
            out.append(a)
    return out


def as_tuple(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


# ---- comparison ---------------------------------------------------------------------
def assert_close(actual, expected, rtol, atol, what):
    """|actual - expected| <= atol + rtol |expected| elementwise (NaNs must match)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True,
                               err_msg=what)


def _torch_dtype_name(t):
    return str(t.dtype).replace("torch.", "")


def compare_outputs(e_outs, t_outs, rtol, atol):
    assert len(e_outs) == len(t_outs), f"{len(e_outs)} outputs, torch gives {len(t_outs)}"
    for i, (e, t) in enumerate(zip(e_outs, t_outs)):
        assert isinstance(e, eg.Tensor), f"output {i} is a {type(e).__name__}, not a Tensor"
        assert e.shape == tuple(t.shape), f"output {i}: shape {e.shape} != torch {t.shape}"
        assert isinstance(e.shape, tuple)
        assert e.dtype.name == _torch_dtype_name(t), \
            f"output {i}: dtype {e.dtype.name} != torch {t.dtype}"
        assert e.requires_grad == t.requires_grad, \
            f"output {i}: requires_grad {e.requires_grad} != torch {t.requires_grad}"
        assert_close(e.numpy(), t.detach().numpy(), rtol, atol, f"output {i} values")


def upstream_gradient(shape, dtype, rng):
    """A random gradient: not all ones, so a formula missing a factor of grad shows."""
    return np.asarray(rng.standard_normal(shape) + 0.5, dtype=dtype)


def check_against_torch(engine_fn, torch_fn, inputs, *, grad=True, dtype=None, seed=0):
    """Run both functions on the same inputs; compare forward, then gradients.

    `dtype` (np.float32 or np.float64) casts the floating numpy inputs first. With
    grad=False only the forward is compared (and nothing requires grad).
    """
    arrays = prepare(inputs, dtype)
    originals = [a.copy() if isinstance(a, np.ndarray) else None for a in arrays]
    e_in = engine_inputs(arrays, grad)
    t_in = torch_inputs(arrays, grad)
    e_outs = as_tuple(engine_fn(*e_in))
    t_outs = as_tuple(torch_fn(*t_in))

    # Any single-precision value involved sets the float32 tolerances.
    floats = {t.dtype for t in list(t_outs) + [t for t in t_in if isinstance(t, torch.Tensor)]
              if t.dtype.is_floating_point}
    tol = TOLERANCES[np.dtype(np.float64 if floats <= {torch.float64} else np.float32)]
    compare_outputs(e_outs, t_outs, *tol["forward"])

    if grad:
        _compare_gradients(e_in, t_in, e_outs, t_outs, tol["grad"], seed)
    for a, before in zip(arrays, originals):
        if before is not None:
            np.testing.assert_array_equal(a, before, err_msg="an op wrote into its input")
    return e_outs


def _compare_gradients(e_in, t_in, e_outs, t_outs, tol, seed):
    leaves = [i for i, t in enumerate(t_in) if isinstance(t, torch.Tensor) and t.requires_grad]
    live = [i for i, t in enumerate(t_outs) if t.requires_grad]
    if not leaves or not live:
        return
    rng = np.random.default_rng(seed)
    grads = [upstream_gradient(tuple(t_outs[i].shape), t_outs[i].detach().numpy().dtype, rng)
             for i in live]
    if len(live) == 1 and len(e_outs) == 1:
        # The common path: Tensor.backward accumulating into the leaves' .grad.
        e_outs[0].backward(eg.from_numpy(grads[0]))
        t_outs[0].backward(torch.from_numpy(grads[0]))
        e_grads = [e_in[i].grad for i in leaves]
        t_grads = [t_in[i].grad for i in leaves]
    else:
        e_grads = eg.autograd.grad([e_outs[i] for i in live], [e_in[i] for i in leaves],
                                   [eg.from_numpy(g) for g in grads], allow_unused=True)
        t_grads = torch.autograd.grad([t_outs[i] for i in live], [t_in[i] for i in leaves],
                                      [torch.from_numpy(g) for g in grads], allow_unused=True)
    for i, e, t in zip(leaves, e_grads, t_grads):
        want = np.zeros(tuple(t_in[i].shape), t_in[i].detach().numpy().dtype) if t is None \
            else t.numpy()
        assert e is not None or not want.any(), f"input {i}: no gradient, torch has one"
        got = np.zeros_like(want) if e is None else e.numpy()
        if e is not None:
            assert e.dtype.name == _torch_dtype_name(t_in[i]), f"input {i}: gradient dtype"
        assert_close(got, want, *tol, f"gradient of input {i}")


# ---- finite differences -------------------------------------------------------------


def gradcheck(fn, inputs, *, eps=1e-6, rtol=1e-5, atol=1e-8):
    """float64 central differences against the engine's Jacobian, then reentrancy.

    The analytic Jacobian is built one row per output element (one-hot upstream
    gradients through autograd.grad, graph retained); the numeric one one column per
    input element. Then two backward passes with the same random upstream gradient
    and retain_graph=True must give bitwise identical gradients.
    """
    arrays = prepare(inputs, np.float64)
    tensors = engine_inputs(arrays)
    leaves = [i for i, a in enumerate(arrays) if _needs_grad(a, True)]
    assert leaves, "gradcheck needs a floating input"
    all_outs = as_tuple(fn(*tensors))
    live = [k for k, o in enumerate(all_outs) if o.requires_grad]
    assert live, "no output requires grad"
    outs = [all_outs[k] for k in live]
    out_sizes = [o.numel() for o in outs]

    # Analytic: J[k][i] has shape (output k numel, input i numel).
    analytic = [[np.zeros((n, arrays[i].size)) for i in leaves] for n in out_sizes]
    for k, out in enumerate(outs):
        for j in range(out_sizes[k]):
            onehot = np.zeros(out_sizes[k])
            onehot[j] = 1.0
            grad_outputs = [eg.from_numpy(onehot.reshape(o.shape)) if m == k else
                            eg.zeros(*o.shape, dtype=eg.float64) for m, o in enumerate(outs)]
            grads = eg.autograd.grad(outs, [tensors[i] for i in leaves], grad_outputs,
                                     retain_graph=True, allow_unused=True)
            for col, g in enumerate(grads):
                if g is not None:
                    analytic[k][col][j] = g.numpy().ravel()

    # Numeric: perturb one input element at a time.
    for col, i in enumerate(leaves):
        base = arrays[i]
        for j in range(base.size):
            index = np.unravel_index(j, base.shape)
            values = []
            for step in (eps, -eps):
                moved = base.copy()
                moved[index] += step
                args = list(arrays)
                args[i] = moved
                with eg.no_grad():
                    moved_outs = as_tuple(fn(*engine_inputs(args, grad=False)))
                values.append([moved_outs[k].numpy().astype(np.float64).ravel() for k in live])
            for k in range(len(outs)):
                numeric = (values[0][k] - values[1][k]) / (2 * eps)
                np.testing.assert_allclose(
                    analytic[k][col][:, j], numeric, rtol=rtol, atol=atol,
                    err_msg=f"d output {k} / d input {i} element {index}")

    # Reentrancy: the retained graph gives the same gradients twice, bit for bit.
    rng = np.random.default_rng(1)
    upstream = [eg.from_numpy(upstream_gradient(tuple(o.shape), np.float64, rng)) for o in outs]
    first = eg.autograd.grad(outs, [tensors[i] for i in leaves], upstream, retain_graph=True,
                             allow_unused=True)
    second = eg.autograd.grad(outs, [tensors[i] for i in leaves], upstream, retain_graph=True,
                              allow_unused=True)
    for a, b in zip(first, second):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a.numpy(), b.numpy()), "backward is not reentrant"
