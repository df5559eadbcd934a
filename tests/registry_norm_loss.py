"""Registry entries for the fused losses, normalizations, dropout and embedding.

F.cross_entropy and F.nll_loss already have their basic samples in registry.py
(`_class_loss`); the Ops here add what the fused kernels must get right: ignore_index
positions, per-class weights (mean divides by the summed weight of the targets),
label smoothing with both, (N, C, d1, d2) layouts, a batch of one, non-contiguous
logits, logits of ±1e4, an empty batch and all-ignored means (NaN, as torch).

Constants that torch would refuse to differentiate (class weights, pos_weight,
running statistics) live in the sample's closures, in the input's dtype, so only the
differentiable inputs are arrays.
"""
import warnings

import numpy as np
import torch
import torch.nn.functional as TF

import engine as eg
import engine.nn.functional as F
from registry import (Op, S, bad, distinct, positive, randn, register, strided, t,
                      transposed, _rng)


def _like(values, x):
    """`values` (numpy) as a tensor of x's library, dtype and device."""
    if isinstance(x, torch.Tensor):
        return torch.from_numpy(np.array(values)).to(x.dtype)
    return eg.from_numpy(np.array(values, dtype=x.numpy().dtype)).to(x.device)


def _targets(shape, classes, ignore=None, ignore_index=-100):
    """Class indices; the positions flagged by the boolean array `ignore` get ignore_index."""
    out = np.asarray(_rng.integers(0, classes, shape), dtype=np.int64)
    if ignore is not None:
        out[np.asarray(ignore)] = ignore_index
    return out


def _call(fn_e, fn_t, id, inputs, weight=None, flags=None, **kw):
    """A sample calling fn(*inputs, **kw), with an optional per-class weight constant."""
    flags = flags or {}
    if weight is None:
        return S(id, *inputs, engine_fn=lambda *a: fn_e(*a, **kw),
                 torch_fn=lambda *a: fn_t(*a, **kw), **flags)
    return S(id, *inputs, engine_fn=lambda x, *a: fn_e(x, *a, weight=_like(weight, x), **kw),
             torch_fn=lambda x, *a: fn_t(x, *a, weight=_like(weight, x), **kw), **flags)


# ---- cross_entropy: the fused kernel's cases ------------------------------------------------
def _ce(id, x, target, weight=None, flags=None, **kw):
    return _call(F.cross_entropy, TF.cross_entropy, id, (x, target), weight, flags, **kw)


_W5 = positive(5)
_W3 = positive(3)
_skip4 = np.array([False, True, False, True])
register(Op("cross_entropy_fused", F.cross_entropy, TF.cross_entropy, [
    _ce("ignore_index", randn(4, 5), _targets(4, 5, _skip4), flags={"check": True}),
    _ce("ignore_index_sum", randn(4, 5), _targets(4, 5, _skip4), reduction="sum"),
    _ce("ignore_index_none", randn(4, 5), _targets(4, 5, _skip4), reduction="none"),
    _ce("ignore_index_is_a_class", randn(6, 3), np.array([0, 2, 1, 2, 2, 0]), ignore_index=2),
    _ce("all_ignored_mean_is_nan", randn(2, 3), np.array([-100, -100]), flags={"grad": False}),
    _ce("smoothing_and_ignore", randn(4, 5), _targets(4, 5, _skip4), label_smoothing=0.2,
        flags={"check": True}),
    _ce("weight", randn(4, 5), _targets(4, 5), weight=_W5, flags={"check": True}),
    _ce("weight_sum", randn(4, 5), _targets(4, 5), weight=_W5, reduction="sum"),
    _ce("weight_none", randn(4, 5), _targets(4, 5), weight=_W5, reduction="none"),
    _ce("weight_smoothing_ignore", randn(4, 5), _targets(4, 5, _skip4), weight=_W5,
        label_smoothing=0.3, flags={"check": True}),
    _ce("spatial_2d", randn(2, 3, 2, 3), _targets((2, 2, 3), 3, _rng.random((2, 2, 3)) < 0.3),
        weight=_W3, label_smoothing=0.1),
    _ce("spatial_2d_none", randn(2, 3, 2, 2), _targets((2, 2, 2), 3), reduction="none"),
    _ce("batch_of_one", randn(1, 7), _targets(1, 7)),
    _ce("one_class", randn(3, 1), _targets(3, 1)),
    _ce("strided_logits", strided(randn(5, 4)), _targets(5, 4), label_smoothing=0.1),
    _ce("transposed_spatial", transposed(randn(2, 3, 4)), _targets((2, 4), 3)),
    _ce("logits_1e4", randn(4, 6) * 1e4, _targets(4, 6), flags={"smooth": False}),
    _ce("logits_1e4_smoothing", randn(4, 6) * 1e4, _targets(4, 6), label_smoothing=0.1,
        flags={"smooth": False}),
    _ce("logits_shifted_1e4", randn(4, 6) + 1e4, _targets(4, 6), flags={"smooth": False}),
    _ce("empty_batch_mean_is_nan", randn(0, 4), _targets(0, 4), flags={"grad": False}),
    _ce("empty_batch_none", randn(0, 4), _targets(0, 4), reduction="none"),
    _ce("large_odd", randn(37, 1000), _targets(37, 1000, _rng.random(37) < 0.1),
        label_smoothing=0.05),
], [
    bad("cross_entropy_weight_shape", eg.ShapeError, "weight must have shape (3,)",
        lambda: F.cross_entropy(t((2, 3)), eg.tensor([0, 1]), weight=t((4,))),
        t((2, 3)), eg.tensor([0, 1]), t((4,)), op="cross_entropy"),
    bad("cross_entropy_weight_dtype", eg.DTypeError, "weight and input have different dtypes",
        lambda: F.cross_entropy(t((2, 3)), eg.tensor([0, 1]), weight=t((3,), eg.float64)),
        t((2, 3)), t((3,), eg.float64), op="cross_entropy"),
    bad("cross_entropy_target_below_zero", IndexError, "target -1 is out of bounds",
        lambda: F.cross_entropy(t((2, 3)), eg.tensor([0, -1])), t((2, 3)),
        op="cross_entropy"),
    bad("cross_entropy_half", eg.DTypeError, "float16 runs on cuda only",
        lambda: F.cross_entropy(t((2, 3), eg.float16), eg.tensor([0, 1])),
        t((2, 3), eg.float16), op="cross_entropy"),
    bad("cross_entropy_no_class_dim", eg.ShapeError, "must have a class dimension",
        lambda: F.cross_entropy(t(()), eg.tensor(0)), t(()), op="cross_entropy"),
    bad("cross_entropy_label_smoothing", ValueError, "label_smoothing must be in [0, 1]",
        lambda: F.cross_entropy(t((2, 3)), eg.tensor([0, 1]), label_smoothing=-0.1),
        op="cross_entropy"),
], covers=("F.cross_entropy",)))


def _nll(id, x, target, weight=None, flags=None, **kw):
    return _call(F.nll_loss, TF.nll_loss, id, (x, target), weight, flags, **kw)


def _log_probs(*shape):
    x = randn(*shape)
    return x - np.log(np.exp(x).sum(axis=1, keepdims=True))


register(Op("nll_loss_weighted", F.nll_loss, TF.nll_loss, [
    _nll("ignore_index", _log_probs(4, 5), _targets(4, 5, _skip4), flags={"check": True}),
    _nll("ignore_index_none", _log_probs(4, 5), _targets(4, 5, _skip4), reduction="none"),
    _nll("weight", _log_probs(4, 5), _targets(4, 5), weight=_W5, flags={"check": True}),
    _nll("weight_ignore_sum", _log_probs(4, 5), _targets(4, 5, _skip4), weight=_W5,
         reduction="sum"),
    _nll("spatial_weight_ignore", _log_probs(2, 3, 4),
         _targets((2, 4), 3, np.array([[1, 0, 0, 1], [0, 0, 1, 0]], dtype=bool)), weight=_W3),
    _nll("strided", strided(_log_probs(5, 4)), _targets(5, 4)),
    _nll("empty_batch_sum", _log_probs(0, 4), _targets(0, 4), reduction="sum"),
], [
    bad("nll_loss_weight_shape", eg.ShapeError, "weight must have shape (3,)",
        lambda: F.nll_loss(t((2, 3)), eg.tensor([0, 1]), weight=t((2,))),
        t((2, 3)), t((2,)), op="nll_loss"),
], covers=("F.nll_loss",)))


# ---- binary losses and l1 -----------------------------------------------------------------------
def _probabilities(*shape):
    return np.asarray(_rng.uniform(0.05, 0.95, shape))


def _unit(*shape):
    return np.asarray(_rng.uniform(0.0, 1.0, shape))


def _bce(id, x, y, weight=None, flags=None, **kw):
    return _call(F.binary_cross_entropy, TF.binary_cross_entropy, id, (x, y), weight, flags,
                 **kw)


register(Op("binary_cross_entropy", F.binary_cross_entropy, TF.binary_cross_entropy, [
    _bce("mean", _probabilities(4, 3), _unit(4, 3), flags={"check": True}),
    _bce("sum", _probabilities(4, 3), _unit(4, 3), reduction="sum"),
    _bce("none", _probabilities(2, 3, 2), _unit(2, 3, 2), reduction="none"),
    _bce("weight_broadcast", _probabilities(4, 3), _unit(4, 3), weight=positive(3)),
    _bce("hard_targets", _probabilities(5), np.array([0.0, 1.0, 1.0, 0.0, 1.0])),
    _bce("saturated", np.array([0.0, 1.0, 0.0, 1.0, 1e-30]), np.array([0.0, 1.0, 1.0, 0.0, 1.0]),
         reduction="none", flags={"smooth": False}),
    _bce("0d", _probabilities(), _unit()),
    _bce("empty_sum", _probabilities(0, 3), _unit(0, 3), reduction="sum"),
    _bce("transposed", transposed(_probabilities(3, 4)), strided(_unit(3, 4))),
], [
    bad("binary_cross_entropy_range", RuntimeError, "between 0 and 1",
        lambda: F.binary_cross_entropy(eg.tensor([1.5]), eg.tensor([1.0])),
        eg.tensor([1.5]), op="binary_cross_entropy"),
    bad("binary_cross_entropy_shapes", eg.ShapeError, "target must have the same shape",
        lambda: F.binary_cross_entropy(t((3, 1)), t((3,))), t((3, 1)), t((3,)),
        op="binary_cross_entropy"),
    bad("binary_cross_entropy_half", eg.DTypeError, "float16 runs on cuda only",
        lambda: F.binary_cross_entropy(t((3,), eg.float16), t((3,), eg.float16)),
        t((3,), eg.float16), op="binary_cross_entropy"),
    bad("binary_cross_entropy_int_target", eg.DTypeError, "must be floating point",
        lambda: F.binary_cross_entropy(t((3,)), eg.tensor([0, 1, 1])), t((3,)),
        op="binary_cross_entropy"),
], covers=("F.binary_cross_entropy",)))


def _bcel(id, x, y, weight=None, pos_weight=None, flags=None, **kw):
    if pos_weight is None:
        return _call(F.binary_cross_entropy_with_logits, TF.binary_cross_entropy_with_logits,
                     id, (x, y), weight, flags, **kw)
    fn = lambda F_: (lambda x, y: F_(x, y, pos_weight=_like(pos_weight, x), **kw))
    return S(id, x, y, engine_fn=fn(F.binary_cross_entropy_with_logits),
             torch_fn=fn(TF.binary_cross_entropy_with_logits), **(flags or {}))


register(Op("binary_cross_entropy_with_logits", F.binary_cross_entropy_with_logits,
            TF.binary_cross_entropy_with_logits, [
    _bcel("mean", randn(4, 3), _unit(4, 3), flags={"check": True}),
    _bcel("sum", randn(4, 3), _unit(4, 3), reduction="sum"),
    _bcel("none", randn(2, 3, 2), _unit(2, 3, 2), reduction="none"),
    _bcel("large_logits", np.array([-800.0, -60.0, -1e-3, 1e-3, 60.0, 800.0]),
          np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.0]), reduction="none"),
    _bcel("pos_weight", randn(4, 3), _unit(4, 3), pos_weight=positive(3), flags={"check": True}),
    _bcel("weight_and_pos_weight", randn(4, 3), _unit(4, 3), weight=positive(4, 1),
          pos_weight=positive(3)),
    _bcel("0d", randn(), _unit()),
    _bcel("empty_mean_is_nan", randn(0, 2), _unit(0, 2), flags={"grad": False}),
    _bcel("transposed", transposed(randn(3, 4)), strided(_unit(3, 4))),
], [
    bad("binary_cross_entropy_with_logits_shapes", eg.ShapeError,
        "target must have the same shape", lambda: F.binary_cross_entropy_with_logits(
            t((2, 3)), t((3,))), t((2, 3)), t((3,)), op="binary_cross_entropy_with_logits"),
    bad("binary_cross_entropy_with_logits_pos_weight", eg.ShapeError,
        "pos_weight does not broadcast", lambda: F.binary_cross_entropy_with_logits(
            t((2, 3)), t((2, 3)), pos_weight=t((2,))), t((2, 3)), t((2,)),
        op="binary_cross_entropy_with_logits"),
], covers=("F.binary_cross_entropy_with_logits",)))


def _quietly(fn, *args):
    """fn(*args) with its shape-mismatch warning silenced (the error is the point)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _l1(id, x, y, flags=None, **kw):
    return _call(F.l1_loss, TF.l1_loss, id, (x, y), None, flags, **kw)


register(Op("l1_loss", F.l1_loss, TF.l1_loss, [
    _l1("mean", distinct(4, 3), distinct(4, 3) + 0.05),
    _l1("sum", distinct(4, 3), distinct(4, 3) + 0.05, reduction="sum"),
    _l1("none", distinct(2, 3), distinct(2, 3) + 0.05, reduction="none"),
    _l1("0d", distinct(), np.asarray(distinct() + 0.05)),
    _l1("empty_sum", randn(0, 3), randn(0, 3), reduction="sum"),
    _l1("transposed", transposed(distinct(3, 4)), strided(distinct(3, 4) + 0.05)),
    _l1("at_zero", np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, 3.0]), flags={"smooth": False}),
], [
    bad("l1_loss_shapes", eg.ShapeError, "do not broadcast",
        lambda: _quietly(F.l1_loss, t((2, 3)), t((4,))), t((2, 3)), t((4,)), op="sub"),
], covers=("F.l1_loss",)))


# ---- layer_norm -------------------------------------------------------------------------------
def _ln(id, shape, x, affine=True, flags=None, eps=1e-5):
    """`shape` goes to the engine as given (an int too, as nn.LayerNorm takes); torch's
    functional form wants a tuple."""
    dims = (shape,) if isinstance(shape, int) else shape
    if affine:
        w, b = randn(*dims) + 1.0, randn(*dims)
        return S(id, x, w, b, engine_fn=lambda x, w, b: F.layer_norm(x, shape, w, b, eps),
                 torch_fn=lambda x, w, b: TF.layer_norm(x, dims, w, b, eps), **(flags or {}))
    return S(id, x, engine_fn=lambda x: F.layer_norm(x, shape, eps=eps),
             torch_fn=lambda x: TF.layer_norm(x, dims, eps=eps), **(flags or {}))


register(Op("layer_norm", F.layer_norm, TF.layer_norm, [
    _ln("affine", (5,), randn(4, 5), flags={"check": True}),
    _ln("no_affine", (5,), randn(3, 5), affine=False),
    _ln("two_dims", (3, 4), randn(2, 3, 4), flags={"check": True}),
    _ln("int_shape", 4, randn(3, 4)),
    _ln("single_row", (6,), randn(1, 6)),
    _ln("width_one", (1,), randn(3, 1)),
    _ln("1d_input", (7,), randn(7)),
    _ln("empty_batch", (4,), randn(0, 4)),
    _ln("transposed", (4,), transposed(randn(5, 4))),
    _ln("strided", (3,), strided(randn(4, 3))),
    _ln("odd", (13,), randn(7, 13)),
    # float64 only: torch's float32 layer_norm loses ~|mean|/std ulps here (its float32
    # mean), the engine's float64 statistics do not; tests/test_norm_loss_kernels.py
    # checks the engine's float32 result against float64 instead.
    _ln("offset_mean", (16,), randn(8, 16) + 100.0, flags={"dtypes": ("float64",)}),
    _ln("large_eps", (5,), randn(4, 5) * 1e-3, eps=1e-2),
    _ln("wide_rows", (1024,), randn(33, 1024)),
], [
    bad("layer_norm_shape", eg.ShapeError, "must be the input's trailing dims",
        lambda: F.layer_norm(t((2, 3)), (4,)), t((2, 3)), op="layer_norm"),
    bad("layer_norm_weight_shape", eg.ShapeError, "weight must have shape (3,)",
        lambda: F.layer_norm(t((2, 3)), (3,), t((4,))), t((2, 3)), t((4,)), op="layer_norm"),
    bad("layer_norm_bias_dtype", eg.DTypeError, "bias and input have different dtypes",
        lambda: F.layer_norm(t((2, 3)), (3,), t((3,)), t((3,), eg.float64)),
        t((2, 3)), t((3,), eg.float64), op="layer_norm"),
    bad("layer_norm_int_input", eg.DTypeError, "must be float32 or float64",
        lambda: F.layer_norm(eg.tensor([[1, 2]]), (2,)), eg.tensor([[1, 2]]), op="layer_norm"),
], covers=("F.layer_norm",)))


# ---- batch_norm -------------------------------------------------------------------------------
def _bn(id, x, training, affine=True, flags=None, momentum=0.1, eps=1e-5):
    channels = x.shape[1]
    mean, var = randn(channels) * 0.3, positive(channels)

    def call(F_):
        def fn(x, *wb):
            rm, rv = _like(mean, x), _like(var, x)
            return F_(x, rm, rv, *wb, training=training, momentum=momentum, eps=eps)
        return fn
    if affine:
        return S(id, x, randn(channels) + 1.0, randn(channels),
                 engine_fn=call(F.batch_norm), torch_fn=call(TF.batch_norm),
                 **(flags or {}))
    return S(id, x, engine_fn=call(F.batch_norm), torch_fn=call(TF.batch_norm),
             **(flags or {}))


register(Op("batch_norm", F.batch_norm, TF.batch_norm, [
    _bn("train_2d", randn(4, 3), True, flags={"check": True}),
    _bn("train_3d", randn(2, 3, 4), True, flags={"check": True}),
    _bn("train_nchw", randn(2, 3, 2, 3), True),
    _bn("train_no_affine", randn(3, 2, 5), True, affine=False),
    _bn("train_batch_of_one", randn(1, 2, 3), True),
    _bn("train_two_rows", randn(2, 4), True),
    _bn("eval_2d", randn(4, 3), False),
    _bn("eval_nchw", randn(2, 3, 2, 2), False),
    _bn("eval_empty_batch", randn(0, 3), False),
    _bn("train_transposed", transposed(randn(5, 3)), True),
    _bn("train_strided", strided(randn(3, 2, 4)), True),
    _bn("train_offset_mean", randn(8, 2, 9) + 50.0, True),
    _bn("train_odd", randn(7, 5, 13), True, momentum=0.3, eps=1e-3),
], [
    bad("batch_norm_eval_needs_stats", ValueError, "running_mean must be defined",
        lambda: F.batch_norm(t((2, 3)), None, None), t((2, 3)), op="batch_norm"),
    bad("batch_norm_one_value", ValueError, "expected more than 1 value per channel",
        lambda: F.batch_norm(t((1, 3)), None, None, training=True), t((1, 3)),
        op="batch_norm"),
    bad("batch_norm_weight_shape", eg.ShapeError, "weight must have shape (3,)",
        lambda: F.batch_norm(t((2, 3)), t((3,)), t((3,)), t((2,))), t((2, 3)), t((2,)),
        op="batch_norm"),
    bad("batch_norm_1d", eg.ShapeError, "must have a batch and a channel dim",
        lambda: F.batch_norm(t((3,)), t((3,)), t((3,))), t((3,)), op="batch_norm"),
], covers=("F.batch_norm",)))


# ---- dropout ----------------------------------------------------------------------------------
_SEED = 1234


def _engine_mask(shape, p):
    """The keep mask F.dropout draws after engine.manual_seed(_SEED)."""
    eg.manual_seed(_SEED)
    with eg.no_grad():
        return np.asarray(F.dropout(eg.ones(tuple(shape), dtype=eg.float64), p).numpy() != 0)


def _dropout(id, x, p, training=True, flags=None):
    def ours(x):
        eg.manual_seed(_SEED)
        return F.dropout(x, p, training)

    def theirs(x):
        if not training or p == 0:
            return TF.dropout(x, p, training)
        mask = torch.from_numpy(_engine_mask(tuple(x.shape), p)).to(x.dtype)
        return x * (mask * (1.0 / (1.0 - p) if p < 1 else 0.0))
    return S(id, x, engine_fn=ours, torch_fn=theirs, **(flags or {}))


register(Op("dropout", F.dropout, TF.dropout, [
    _dropout("p03", randn(4, 5), 0.3, flags={"check": True}),
    _dropout("p05_odd", randn(7, 13), 0.5),
    _dropout("p09", randn(50, 20), 0.9),
    _dropout("eval_identity", randn(3, 4), 0.5, training=False),
    _dropout("p0_identity", randn(3, 4), 0.0),
    _dropout("p1_zeros", randn(3, 4), 1.0),
    _dropout("0d", randn(), 0.5),
    _dropout("empty", randn(0, 3), 0.5),
    _dropout("transposed", transposed(randn(6, 5)), 0.4),
    _dropout("strided", strided(randn(4, 6)), 0.4),
], [
    bad("dropout_p", ValueError, "dropout probability has to be between 0 and 1",
        lambda: F.dropout(t((2,)), 1.5), op="dropout"),
    bad("dropout_int_input", eg.DTypeError, "input must be float32 or float64",
        lambda: F.dropout(eg.tensor([1, 2]), 0.5), eg.tensor([1, 2]), op="dropout"),
], covers=("F.dropout",)))


# ---- embedding --------------------------------------------------------------------------------
def _indices(shape, rows):
    return np.asarray(_rng.integers(0, rows, shape), dtype=np.int64)


def _emb(id, idx, weight, flags=None, **kw):
    return S(id, idx, weight, engine_fn=lambda i, w: F.embedding(i, w, **kw),
             torch_fn=lambda i, w: TF.embedding(i, w, **kw), **(flags or {}))


register(Op("embedding", F.embedding, TF.embedding, [
    _emb("1d", np.array([0, 3, 1]), randn(5, 4), flags={"check": True}),
    _emb("repeated", np.array([[2, 2, 0], [2, 4, 2]]), randn(5, 3), flags={"check": True}),
    _emb("0d_index", np.array(3), randn(5, 2)),
    _emb("empty_index", np.zeros((0,), dtype=np.int64), randn(5, 2)),
    _emb("padding_idx", np.array([[1, 0, 1], [3, 1, 2]]), randn(4, 3), padding_idx=1),
    _emb("negative_padding_idx", np.array([3, 0, 3, 2]), randn(4, 3), padding_idx=-1),
    _emb("transposed_weight", _indices((3, 4), 6), transposed(randn(6, 5))),
    _emb("strided_weight", _indices((7,), 6), strided(randn(6, 3))),
    _emb("int32_index", np.array([1, 0, 1], dtype=np.int32), randn(2, 3)),
    _emb("large", _indices((64, 33), 100), randn(100, 257)),
], [
    bad("embedding_out_of_range", IndexError, "index 5 is out of range for 3 embeddings",
        lambda: F.embedding(eg.tensor([0, 5]), t((3, 2))), eg.tensor([0, 5]), t((3, 2)),
        op="embedding"),
    bad("embedding_float_index", eg.DTypeError, "input must hold integer indices",
        lambda: F.embedding(t((2,)), t((3, 2))), t((2,)), t((3, 2)), op="embedding"),
    bad("embedding_half_weight", eg.DTypeError, "weight must be float32 or float64",
        lambda: F.embedding(eg.tensor([0]), t((3, 2), eg.float16)), t((3, 2), eg.float16),
        op="embedding"),
    bad("embedding_weight_1d", eg.ShapeError, "weight must be 2-D",
        lambda: F.embedding(eg.tensor([0]), t((3,))), t((3,)), op="embedding"),
    bad("embedding_padding_idx", ValueError, "padding_idx must be within num_embeddings",
        lambda: F.embedding(eg.tensor([0]), t((3, 2)), padding_idx=3), t((3, 2)),
        op="embedding"),
], covers=("F.embedding",)))
