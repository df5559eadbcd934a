"""RMSprop (Hinton's lecture 6e): Adagrad with a moving average of squared gradients
instead of their sum, so the step size does not decay to zero."""
from engine import creation
from engine.optim.optimizer import Optimizer


class RMSprop(Optimizer):
    """torch.optim.RMSprop's rule, for each parameter p with gradient g:

        g = -g                                          (if maximize)
        g = g + weight_decay * p                        (if weight_decay)
        v = alpha * v + (1 - alpha) * g * g
        a = sqrt(v - ḡ²) + eps   with ḡ = ḡ + (1 - alpha)(g - ḡ)   (centered)
        a = sqrt(v) + eps                                          (otherwise)
        b = momentum * b + g / a;  p = p - lr * b       (if momentum > 0)
        p = p - lr * g / a                              (otherwise)

    state[p]: 'step', 'square_avg' (v), 'momentum_buffer' (b, if momentum > 0) and
    'grad_avg' (ḡ, if centered).
    """

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if alpha < 0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered,
                                      maximize=maximize))

    def _update(self, param, grad, group, state):
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0
            state["square_avg"] = creation.zeros_like(param)
            if momentum > 0:
                state["momentum_buffer"] = creation.zeros_like(param)
            if group["centered"]:
                state["grad_avg"] = creation.zeros_like(param)
        state["step"] += 1
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad + param * group["weight_decay"]
        square_avg = state["square_avg"]
        square_avg.mul_(alpha).add_(grad * (1 - alpha) * grad)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.add_(grad - grad_avg, alpha=1 - alpha)
            avg = (square_avg - grad_avg * grad_avg).sqrt()
        else:
            avg = square_avg.sqrt()
        avg = avg + group["eps"]
        if momentum > 0:
            buf = state["momentum_buffer"]
            buf.mul_(momentum).add_(grad / avg)
            param.add_(buf, alpha=-group["lr"])
        else:
            param.add_(grad * -group["lr"] / avg)
