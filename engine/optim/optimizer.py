"""Optimizer: parameter groups, per-parameter state, zero_grad and state_dict.

Subclasses implement only `_update(param, grad, group, state)`: the rule for one
parameter. The base class walks the groups, skips parameters without a gradient and
runs the updates under no_grad (an update is not part of any model's graph).

Layout, as torch.optim:
- `param_groups`: a list of dicts, each with a 'params' list and its hyperparameters
  (a group may override any default, e.g. a smaller lr for a pretrained trunk);
- `state`: a dict param -> dict of that parameter's buffers (momentum, moments, step),
  created lazily on its first update, so it is plain to inspect;
- `state_dict()`: {'state': {index: {...}}, 'param_groups': [{..., 'params': [index]}]},
  parameters numbered in group order, so it can be loaded into a new optimizer over
  new (but identically shaped) parameters.
"""
import copy

from engine.autograd import enable_grad, no_grad
from engine.tensor import Tensor


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.state = {}
        self.param_groups = []
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable "
                            "of Tensors or dicts, but got a Tensor. Hint: pass "
                            "model.parameters() or [tensor]")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        """Add a dict with 'params' and optional hyperparameter overrides."""
        if not isinstance(group, dict):
            raise TypeError(f"param group must be a dict, got {type(group).__name__}")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered "
                            "collections, but the ordering of tensors in sets will change "
                            "between runs. Hint: use a list")
        params = list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor. Hint: optimize the "
                                 "Parameters (leaves) the tensor was computed from")
        # Identity, not ==: == on tensors is elementwise.
        ids = [id(p) for p in params]
        if len(set(ids)) != len(ids):
            raise ValueError("optimizer contains a parameter group with duplicate parameters")
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken & set(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        new_group = dict(self.defaults)
        new_group.update(group)
        new_group["params"] = params
        self.param_groups.append(new_group)

    def zero_grad(self, set_to_none=True):
        """Clear the gradients: drop them (default, as torch) or fill them with zeros."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def step(self, closure=None):
        """Update every parameter that has a gradient. `closure` (optional) re-evaluates
        the model and returns the loss, which step returns."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    state = self.state.get(p, {})
                    self._update(p, p.grad, group, state)
                    if state:   # rules without buffers (plain SGD) leave no entry
                        self.state[p] = state
        return loss

    def _update(self, param, grad, group, state):
        raise NotImplementedError

    # ---- state_dict ------------------------------------------------------------------
    def state_dict(self):
        """The optimizer's state with parameters replaced by their index.

        Tensors in it are references to the live state (as torch); load_state_dict
        copies them.
        """
        index, groups = {}, []
        for group in self.param_groups:
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyperparameters and state saved by `state_dict()`.

        The groups must match this optimizer's in number and size. State tensors are
        copied, floating ones cast to their parameter's dtype.
        """
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                             f"this optimizer has {len(self.param_groups)}")
        for saved, group in zip(saved_groups, self.param_groups):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"loaded state dict contains a parameter group of "
                                 f"{len(saved['params'])} parameters that doesn't match the "
                                 f"size of optimizer's group ({len(group['params'])})")
        by_index = {i: p for saved, group in zip(saved_groups, self.param_groups)
                    for i, p in zip(saved["params"], group["params"])}
        self.state = {}
        for i, saved_state in state_dict["state"].items():
            param = by_index[i]
            self.state[param] = {k: _copy_state(v, param) for k, v in saved_state.items()}
        for saved, group in zip(saved_groups, self.param_groups):
            for key, value in saved.items():
                if key != "params":
                    group[key] = copy.deepcopy(value)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for key in sorted(k for k in group if k != "params"):
                lines.append(f"    {key}: {group[key]}")
        return "\n".join(lines) + "\n)"


def _copy_state(value, param):
    if isinstance(value, Tensor):
        if value.dtype.is_floating_point and param.dtype.is_floating_point:
            value = value.detach().to(param.dtype)
        return value.detach().clone()
    return copy.deepcopy(value)
