"""NAdam (Dozat 2016): Adam with Nesterov momentum — the step looks ahead by using
the next momentum coefficient on the running mean of the gradient."""
from engine import creation
from engine.optim.optimizer import Optimizer


class NAdam(Optimizer):
    """torch.optim.NAdam's rule, for each parameter p with gradient g at step t:

        p = p * (1 - lr * weight_decay)               (decoupled_weight_decay)
        g = g + weight_decay * p                      (otherwise, if weight_decay)
        μ_t = beta1 (1 - 0.5 * 0.96^(t * momentum_decay))     (the momentum schedule)
        Π_t = Π_{t-1} μ_t                                      ('mu_product')
        m = m + (1 - beta1)(g - m);  v = beta2 v + (1 - beta2) g²
        d = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr (1 - μ_t) / (1 - Π_t) * g / d - lr μ_{t+1} / (1 - Π_t μ_{t+1}) * m / d

    state[p]: 'step' (int), 'mu_product' (Python float), 'exp_avg' (m), 'exp_avg_sq' (v).
    torch keeps 'mu_product' in a tensor of its default dtype (float32 unless
    torch.set_default_dtype(torch.float64)); here it is always a double.
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, *, decoupled_weight_decay=False, maximize=False):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, beta in enumerate(betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {beta}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if momentum_decay < 0:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, param, grad, group, state):
        beta1, beta2 = group["betas"]
        lr, weight_decay, momentum_decay = group["lr"], group["weight_decay"], \
            group["momentum_decay"]
        if not state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = creation.zeros_like(param)
            state["exp_avg_sq"] = creation.zeros_like(param)
        state["step"] += 1
        # torch's step is a float tensor read back with .item(): keep the exponent a float.
        step = float(state["step"])
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]

        if group["maximize"]:
            grad = -grad
        bias_correction2 = 1 - beta2 ** step
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad + param * weight_decay
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (step * momentum_decay)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * momentum_decay)))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]

        exp_avg.add_(grad - exp_avg, alpha=1 - beta1)
        exp_avg_sq.mul_(beta2).add_(grad * (1 - beta2) * grad)
        denom = (exp_avg_sq / bias_correction2).sqrt() + group["eps"]
        mu_product_next = mu_product * mu_next
        param.add_(grad * (-lr * (1.0 - mu) / (1.0 - mu_product)) / denom)
        param.add_(exp_avg * ((-lr * mu_next) / (1.0 - mu_product_next)) / denom)
