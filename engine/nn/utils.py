"""engine.nn.utils: gradient clipping, weight constraints, penalties, MC dropout and
freezing — the regularization and transfer-learning tools of the course.

    clip_grad_norm_(params, max_norm)   rescale all gradients together so their total
                                        norm is at most max_norm (exploding gradients)
    clip_grad_value_(params, v)         clamp every gradient element to [-v, v]
    max_norm_(weight, max_value)        after a step, rescale each unit's incoming
                                        weights to norm <= max_value (max-norm
                                        regularization, Srivastava et al. 2014)
    l1_penalty / l2_penalty             λ Σ|w| and λ Σw² over a model's weights, to add
                                        to the loss
    mc_dropout_predict(model, x, n)     Monte-Carlo dropout (Gal & Ghahramani 2016):
                                        n stochastic forward passes, mean and std
    freeze / unfreeze                   requires_grad off/on for a (sub-)module, to
                                        reuse trained lower layers (transfer learning)
"""
import math

from engine import creation
from engine.autograd import no_grad
from engine.ops.movement import stack
from engine.tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "count_parameters", "freeze", "l1_penalty",
           "l2_penalty", "max_norm_", "mc_dropout_predict", "unfreeze"]


def _parameters(parameters):
    if isinstance(parameters, Tensor):
        return [parameters]
    return list(parameters)


def _grads(parameters):
    return [p.grad for p in _parameters(parameters) if p.grad is not None]


def _norm(t, norm_type):
    if norm_type == math.inf:
        return t.abs().amax()
    if norm_type == 2:
        return (t * t).sum().sqrt()
    return (t.abs() ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale every gradient by min(1, max_norm / (total_norm + 1e-6)), where total_norm
    is the norm of all gradients taken as one vector (torch's rule). Returns the total
    norm before clipping (a 0-d tensor)."""
    grads = _grads(parameters)
    norm_type = float(norm_type)
    if not grads:
        return creation.tensor(0.0)
    with no_grad():
        norms = stack([_norm(g, norm_type) for g in grads])
        total = norms.amax() if norm_type == math.inf else _norm(norms, norm_type)
        value = total.item()
        if error_if_nonfinite and not math.isfinite(value):
            raise RuntimeError(f"clip_grad_norm_: the total norm of order {norm_type} for "
                               f"gradients is non-finite ({value}), so it cannot be clipped. "
                               f"Hint: pass error_if_nonfinite=False to skip this check")
        coefficient = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coefficient)
    return total


def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element to [-clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    with no_grad():
        for g in _grads(parameters):
            g.copy_(g.clamp(-clip_value, clip_value))


def max_norm_(weight, max_value=3.0, dim=0, norm_type=2.0, eps=1e-7):
    """Max-norm constraint, in place: every slice weight[i] along `dim` (dim 0 of a
    torch-layout weight = one output unit's incoming weights) whose norm exceeds
    max_value is scaled down to norm max_value (torch.renorm's rule). Call it after
    each optimizer step; returns weight."""
    with no_grad():
        axis = dim % weight.ndim
        others = tuple(d for d in range(weight.ndim) if d != axis)
        if norm_type == 2:
            norms = (weight * weight).sum(others, keepdim=True).sqrt()
        else:
            norms = (weight.abs() ** norm_type).sum(others, keepdim=True) ** (1.0 / norm_type)
        scale = (max_value / (norms + eps)).clamp(max=1.0)
        weight.copy_(weight * scale)
    return weight


def _penalized(parameters, op):
    """A model's weights — parameters of 2 or more dims (not biases, nor norm scales) —
    or the given tensors as they are."""
    if hasattr(parameters, "named_parameters"):
        weights = [p for p in parameters.parameters() if p.ndim >= 2 and p.requires_grad]
    else:
        weights = _parameters(parameters)
    if not weights:
        raise ValueError(f"{op}: nothing to penalize (no trainable weight of 2+ dims). Hint: "
                         f"pass the tensors themselves")
    return weights


def l1_penalty(parameters, coefficient):
    """coefficient * Σ|w| (lasso: drives weights to exactly 0). `parameters`: a Module
    (its weights of 2+ dims) or tensors. Add it to the loss."""
    weights = _penalized(parameters, "l1_penalty")
    return sum((w.abs().sum() for w in weights[1:]), weights[0].abs().sum()) * coefficient


def l2_penalty(parameters, coefficient):
    """coefficient * Σw² (ridge, Keras' l2 convention). Its gradient 2 coefficient w
    is SGD's weight_decay with weight_decay = 2 * coefficient."""
    weights = _penalized(parameters, "l2_penalty")
    return sum(((w * w).sum() for w in weights[1:]), (weights[0] * weights[0]).sum()) \
        * coefficient


def mc_dropout_predict(model, inputs, n_samples=30, transform=None):
    """Monte-Carlo dropout: run `model` n_samples times on `inputs` with its Dropout
    layers active (every other layer, BatchNorm included, in eval mode), without
    gradients. Returns (mean, std) over the samples of transform(output) — e.g.
    transform=lambda y: F.softmax(y, 1) for class probabilities. The model's modes
    are restored after."""
    from engine.nn.dropout import Dropout

    if n_samples < 2:
        raise ValueError(f"mc_dropout_predict: n_samples must be >= 2, got {n_samples}")
    modes = [(m, m.training) for m in model.modules()]
    dropouts = [m for m, _ in modes if isinstance(m, Dropout)]
    if not dropouts:
        raise ValueError("mc_dropout_predict: the model has no Dropout layer, so every pass "
                         "would give the same output")
    try:
        model.eval()
        for m in dropouts:
            m.training = True
        with no_grad():
            outputs = []
            for _ in range(n_samples):
                y = model(inputs)
                outputs.append(transform(y) if transform is not None else y)
            samples = stack(outputs)
            return samples.mean(0), samples.std(0, unbiased=False)
    finally:
        for m, mode in modes:
            m.training = mode


def freeze(module):
    """Stop training `module`'s parameters (requires_grad=False): the optimizer skips
    them since they get no gradient. Returns the module."""
    return module.requires_grad_(False)


def unfreeze(module):
    return module.requires_grad_(True)


def count_parameters(module, trainable_only=False):
    """The number of scalars in module's parameters (each shared one counted once)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
