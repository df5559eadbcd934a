"""Module: the base class of every layer, and the bookkeeping torch users expect.

A Module owns three ordered registries, filled by plain attribute assignment:

    self.weight = Parameter(...)     # -> _parameters  (learnable, in parameters())
    self.fc = Linear(3, 4)           # -> _modules     (children, walked recursively)
    self.register_buffer("running_mean", eg.zeros(4))   # -> _buffers (state, no grad)

Everything else (named_parameters, state_dict, to, train/eval, repr) is a walk over
those registries, with dotted names built from the attribute names, so the keys of
`state_dict()` are exactly torch's for the same model.
"""
from collections import OrderedDict, namedtuple

from engine import dtypes
from engine.autograd import no_grad
from engine.creation import tensor as _tensor
from engine.nn.parameter import Parameter
from engine.tensor import Tensor

IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers. Subclasses call `super().__init__()` first, then assign
    Parameters and sub-Modules as attributes, and define `forward`."""

    def __init__(self):
        # object.__setattr__: our own __setattr__ reads these registries.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward(). Hint: define "
                                  f"forward(self, ...) in the subclass")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    # ---- registration ----------------------------------------------------------------
    def _registries(self):
        registries = self.__dict__.get("_parameters")
        if registries is None:
            raise AttributeError(f"cannot assign parameters, modules or buffers before "
                                 f"Module.__init__() call. Hint: call super().__init__() "
                                 f"first in {type(self).__name__}.__init__")
        return self._parameters, self._buffers, self._modules

    def __setattr__(self, name, value):
        if isinstance(value, (Parameter, Module)):
            params, buffers, modules = self._registries()
            # A name lives in exactly one place: forget any earlier meaning of it.
            for registry in (params, buffers, modules, self.__dict__):
                registry.pop(name, None)
            self._non_persistent_buffers.discard(name)
            (params if isinstance(value, Parameter) else modules)[name] = value
            return
        params = self.__dict__.get("_parameters", {})
        buffers = self.__dict__.get("_buffers", {})
        modules = self.__dict__.get("_modules", {})
        if name in params:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as parameter "
                                f"'{name}' (engine.nn.Parameter or None expected). Hint: "
                                f"wrap it in nn.Parameter(...)")
            params[name] = None
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"'{name}' (engine.nn.Module or None expected)")
            modules[name] = None
        elif name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer '{name}' "
                                f"(engine.Tensor or None expected)")
            buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Called only when normal lookup fails, i.e. for registered names.
        for registry in ("_parameters", "_buffers", "_modules"):
            entries = self.__dict__.get(registry)
            if entries is not None and name in entries:
                return entries[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._non_persistent_buffers.discard(name)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register `param` (a Parameter or None) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter '{name}' "
                            f"(engine.nn.Parameter or None expected)")
        _check_name(name, self, "parameter")
        self._registries()[0][name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register a Tensor (or None) as state that is saved but not learned.

        Buffers follow `to()` and, when `persistent`, appear in `state_dict()`.
        """
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} as buffer '{name}' "
                            f"(engine.Tensor or None expected)")
        _check_name(name, self, "buffer")
        self._registries()[1][name] = tensor
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        """Register a child module (or None) under `name`; containers use this."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        _check_name(name, self, "module")
        self._registries()[2][name] = module

    # ---- walking the tree ------------------------------------------------------------
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(name, module) for this module and every descendant, pre-order; a module
        reachable by several paths comes once unless `remove_duplicate` is False."""
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            if child is not None:
                yield from child.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                               remove_duplicate)

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self):
        for _, child in self.named_children():
            yield child

    def _named_members(self, registry, recurse):
        """(dotted name, tensor) from one registry of each module; shared tensors once."""
        seen = set()
        walk = self.named_modules() if recurse else [("", self)]
        for prefix, module in walk:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse=True):
        yield from self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        for _, param in self.named_parameters(recurse):
            yield param

    def named_buffers(self, recurse=True):
        yield from self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        for _, buffer in self.named_buffers(recurse):
            yield buffer

    # ---- modes and gradients ---------------------------------------------------------
    def train(self, mode=True):
        """Set training mode here and in every descendant (Dropout, BatchNorm read it)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad=True):
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none=True):
        """Clear every parameter's .grad: drop it (default) or fill it with zeros."""
        for param in self.parameters():
            if param.grad is None:
                continue
            if set_to_none:
                param.grad = None
            else:
                param.grad.zero_()

    # ---- state_dict ------------------------------------------------------------------
    def state_dict(self, keep_vars=False):
        """An ordered dict of dotted name -> tensor: parameters, then persistent buffers,
        module by module, in torch's order. A module shared by several paths appears
        under each of them (as in torch), so loading fills every path.

        Values share storage with the model; they are detached unless `keep_vars`.
        """
        out = OrderedDict()
        for prefix, module in self.named_modules(remove_duplicate=False):
            dot = f"{prefix}." if prefix else ""
            for name, param in module._parameters.items():
                if param is not None:
                    out[dot + name] = param if keep_vars else param.detach()
            for name, buffer in module._buffers.items():
                if buffer is not None and name not in module._non_persistent_buffers:
                    out[dot + name] = buffer if keep_vars else buffer.detach()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values from `state_dict` into this module's parameters and buffers.

        Every problem is reported at once in one RuntimeError: missing and unexpected
        keys (only when `strict`) and shape mismatches (always, as in torch). Nothing
        is copied when there is an error. Values are cast to each target's dtype.
        Returns IncompatibleKeys(missing_keys, unexpected_keys).
        """
        own = self.state_dict(keep_vars=True)
        missing = [key for key in own if key not in state_dict]
        unexpected = [key for key in state_dict if key not in own]
        values, mismatched = {}, []
        for key, target in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value if isinstance(value, Tensor) else _tensor(value)
            if tuple(value.shape) != tuple(target.shape):
                mismatched.append(f"size mismatch for {key}: copying a param with shape "
                                  f"{tuple(value.shape)} from checkpoint, the shape in "
                                  f"current model is {tuple(target.shape)}.")
            values[key] = value
        errors = list(mismatched)
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ".")
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ".")
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:"
                               + "".join("\n\t" + e for e in errors))
        with no_grad():
            for key, value in values.items():
                own[key].copy_(value)
        return IncompatibleKeys(missing, unexpected)

    # ---- dtype and device ----------------------------------------------------------
    def to(self, *args, dtype=None, device=None):
        """Cast floating parameters and buffers to `dtype` and/or move all of them to
        `device`, in place: the same Parameter objects (so an optimizer built before
        still holds them) get new storage. Returns self.
        """
        for a in args:
            if isinstance(a, str):
                device = a
            else:
                dtype = a
        if dtype is not None:
            dtype = dtypes.as_dtype(dtype)
            if not dtype.is_floating_point:
                raise TypeError(f"nn.Module.to only accepts floating point dtypes, but got "
                                f"desired dtype={dtype!r}")
        for module in self.modules():
            for registry in (module._parameters, module._buffers):
                for value in registry.values():
                    if value is not None:
                        _convert_in_place(value, dtype, device)
        return self

    def float(self):
        return self.to(dtypes.float32)

    def double(self):
        return self.to(dtypes.float64)

    def half(self):
        return self.to(dtypes.float16)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    # ---- printing --------------------------------------------------------------------
    def extra_repr(self):
        """The text inside this module's parentheses; layers override it."""
        return ""

    def __repr__(self):
        lines = self.extra_repr().split("\n") if self.extra_repr() else []
        for name, child in self._modules.items():
            child_text = repr(child).replace("\n", "\n  ")
            lines.append(f"({name}): {child_text}")
        if not lines:
            return f"{type(self).__name__}()"
        if len(lines) == 1 and not self._modules:
            return f"{type(self).__name__}({lines[0]})"
        return f"{type(self).__name__}(\n  " + "\n  ".join(lines) + "\n)"


def _check_name(name, module, kind):
    if not isinstance(name, str):
        raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
    if not name or "." in name:
        raise KeyError(f"{kind} name can't be empty or contain \".\", got {name!r}")
    if name in module.__dict__:
        raise KeyError(f"attribute '{name}' already exists")


def _convert_in_place(t, dtype, device):
    """Give tensor `t` (and its .grad) new storage of `dtype` on `device`, keeping the
    object: integer buffers keep their dtype, as in torch."""
    for tensor in (t, t.grad):
        if tensor is None:
            continue
        target = dtype if dtype is not None and tensor.dtype.is_floating_point else None
        moved = tensor.detach().to(device=device, dtype=target)
        tensor.data = moved.data
        tensor.device = moved.device
