"""Adagrad (Duchi et al. 2011): each coordinate's step shrinks with the sum of its
squared gradients, so rarely-updated coordinates keep large steps."""
from engine import creation
from engine.optim.optimizer import Optimizer


class Adagrad(Optimizer):
    """torch.optim.Adagrad's rule, for each parameter p with gradient g at step t:

        g = -g                                   (if maximize)
        g = g + weight_decay * p                 (if weight_decay)
        clr = lr / (1 + (t - 1) * lr_decay)
        s = s + g * g
        p = p - clr * g / (sqrt(s) + eps)

    state[p]: 'step' (int t) and 'sum' (s, starting at initial_accumulator_value).
    The sum only grows, so the effective rate only decays: good for sparse features,
    too aggressive for long deep-network training (RMSprop's fix: a moving average).
    """

    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0,
                 initial_accumulator_value=0, eps=1e-10, *, maximize=False):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if lr_decay < 0:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if initial_accumulator_value < 0:
            raise ValueError(f"Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))

    def _update(self, param, grad, group, state):
        if not state:
            state["step"] = 0
            state["sum"] = creation.full_like(param, group["initial_accumulator_value"])
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + param * group["weight_decay"]
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"].add_(grad * grad)
        std = state["sum"].sqrt() + group["eps"]
        param.add_(grad * -clr / std)
