"""Adam and AdamW: per-parameter steps scaled by running estimates of the gradient's
moments (Kingma & Ba 2015; Loshchilov & Hutter 2019 for the decoupled weight decay)."""
from engine import creation
from engine.optim.optimizer import Optimizer


class Adam(Optimizer):
    """torch.optim.Adam's rule, for each parameter p with gradient g at step t = 1, 2, ...:

        g = -g                                        (if maximize)
        p = p * (1 - lr * weight_decay)               (decoupled_weight_decay: AdamW)
        g = g + weight_decay * p                      (otherwise: an L2 penalty)
        m = m + (1 - beta1) * (g - m)                 (torch's lerp_, = beta1 m + (1-beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        v̂ = max(v̂, v) if amsgrad else v
        p = p - lr / (1 - beta1^t) * m / (sqrt(v̂) / sqrt(1 - beta2^t) + eps)

    state[p]: 'step' (int t), 'exp_avg' (m), 'exp_avg_sq' (v), and 'max_exp_avg_sq' (v̂)
    with amsgrad, all shaped like p. The operations follow torch's order so float64
    results agree to rounding.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False, decoupled_weight_decay=False):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _update(self, param, grad, group, state):
        beta1, beta2 = group["betas"]
        lr, weight_decay = group["lr"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = creation.zeros_like(param)
            state["exp_avg_sq"] = creation.zeros_like(param)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = creation.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad + param * weight_decay
        exp_avg.add_(grad - exp_avg, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * (1 - beta2) * grad)

        # The bias corrections are Python floats: scalars, not tensor ops. `** 0.5`
        # rather than math.sqrt because that is what torch computes.
        step_size = lr / (1 - beta1 ** step)
        second = exp_avg_sq
        if group["amsgrad"]:
            second = state["max_exp_avg_sq"]
            second.copy_(second.maximum(exp_avg_sq))
        denom = second.sqrt() / (1 - beta2 ** step) ** 0.5 + group["eps"]
        param.add_(exp_avg * -step_size / denom)     # torch's addcdiv_: (value * m) / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: p = p * (1 - lr * weight_decay) before the
    Adam step, instead of adding weight_decay * p to the gradient. Default
    weight_decay=1e-2, as torch.optim.AdamW."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)
