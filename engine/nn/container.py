"""Containers: Sequential (a pipeline), ModuleList and ModuleDict (registered collections).

Children are registered under their position ("0", "1", ...), so parameter names
and state_dict keys read `0.weight`, `2.bias` — the same keys as torch.
"""
from collections import OrderedDict

from engine.nn.module import Module


def _index(op, idx, length):
    """A Python index in [-length, length) as a position in [0, length)."""
    if not isinstance(idx, int) or isinstance(idx, bool):
        raise TypeError(f"{op} indices must be integers or slices, not {type(idx).__name__}")
    if not -length <= idx < length:
        raise IndexError(f"{op}: index {idx} is out of range for {length} modules")
    return idx % length


class Sequential(Module):
    """Applies its modules in order: Sequential(a, b, c)(x) == c(b(a(x))).

    Built from modules (named "0", "1", ...) or from one OrderedDict of name -> module.
    """

    def __init__(self, *args):
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for name, module in args[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), module)

    def forward(self, input):
        for module in self._modules.values():
            input = module(input)
        return input

    def __getitem__(self, idx):
        modules = list(self._modules.items())
        if isinstance(idx, slice):
            return Sequential(OrderedDict(modules[idx]))
        return modules[_index("Sequential", idx, len(modules))][1]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters the parent sees. It has no forward: the
    owner decides how to call them."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __getitem__(self, idx):
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            return ModuleList(modules[idx])
        return modules[_index("ModuleList", idx, len(modules))]

    def __setitem__(self, idx, module):
        self.add_module(str(_index("ModuleList", idx, len(self))), module)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def insert(self, index, module):
        modules = list(self._modules.values())
        modules.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)


class ModuleDict(Module):
    """An ordered dict of name -> module whose parameters the parent sees (keys become
    the state_dict prefixes). Like ModuleList it has no forward."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key):
        module = self._modules[key]
        del self._modules[key]
        return module

    def clear(self):
        self._modules.clear()

    def update(self, modules):
        """Add (name, module) pairs from a mapping or an iterable of pairs, in order."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for pair in pairs:
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise TypeError(f"ModuleDict.update: expected (name, module) pairs, got "
                                f"{type(pair).__name__}")
            self[pair[0]] = pair[1]
