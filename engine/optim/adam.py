"""Adam: per-parameter steps scaled by running estimates of the gradient's moments."""
from engine import creation
from engine.optim.optimizer import Optimizer


class Adam(Optimizer):
    """torch.optim.Adam's rule (amsgrad off), for each parameter p with gradient g at
    step t = 1, 2, ...:

        g = g + weight_decay * p                     (L2 penalty, if weight_decay)
        m = m + (1 - beta1) * (g - m)                (torch's lerp_, = beta1 m + (1-beta1) g)
        v = beta2 * v + (1 - beta2) * g * g
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    state[p]: 'step' (int t), 'exp_avg' (m), 'exp_avg_sq' (v), both shaped like p.
    The operations follow torch's order so float64 results agree to rounding.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0):
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
                                      weight_decay=weight_decay))

    def _update(self, param, grad, group, state):
        beta1, beta2 = group["betas"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = creation.zeros_like(param)
            state["exp_avg_sq"] = creation.zeros_like(param)
        state["step"] += 1
        step = state["step"]
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        if group["weight_decay"] != 0:
            grad = grad + param * group["weight_decay"]
        exp_avg.add_(grad - exp_avg, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * grad, alpha=1 - beta2)

        # The bias corrections are Python floats: scalars, not tensor ops. `** 0.5`
        # rather than math.sqrt because that is what torch computes.
        step_size = group["lr"] / (1 - beta1 ** step)
        denom = exp_avg_sq.sqrt() / (1 - beta2 ** step) ** 0.5 + group["eps"]
        param.add_(exp_avg / denom, alpha=-step_size)
