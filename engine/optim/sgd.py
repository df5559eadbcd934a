"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""
from engine.optim.optimizer import Optimizer


class SGD(Optimizer):
    """torch.optim.SGD's rule, for each parameter p with gradient g:

        g = g + weight_decay * p                     (if weight_decay)
        b = g                    on the first step   (if momentum)
        b = momentum * b + (1 - dampening) * g       afterwards
        g = g + momentum * b  if nesterov  else  b
        p = p - lr * g

    state[p]['momentum_buffer'] holds b (only when momentum != 0).
    """

    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False):
        if lr < 0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))

    def _update(self, param, grad, group, state):
        momentum = group["momentum"]
        if group["weight_decay"] != 0:
            grad = grad + param * group["weight_decay"]
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                # A copy: the buffer is updated in place, the gradient must not be.
                buf = state["momentum_buffer"] = grad.clone()
            else:
                buf.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            grad = grad + buf * momentum if group["nesterov"] else buf
        param.add_(grad, alpha=-group["lr"])
