"""Which kernel table runs an op: chosen by device, switchable, and observable.

A backend is a module in `kernels/` whose `__all__` names its kernel functions;
every backend exposes the same names and signatures (tests/test_backends.py). Ops
never import a backend: they receive the table for their operands' device as
`ctx.kernels`.

Switches:
- `use_backend("reference")` (or ENGINE_BACKEND=reference): run the numpy oracle on
  the CPU instead of the Numba kernels.
- `allow_fallback()` (or ENGINE_ALLOW_FALLBACK=1): a backend that lacks a kernel may
  borrow the reference one. Off by default: a hot path never degrades silently.
- `log_kernels()` (or ENGINE_LOG_KERNELS=1): one line per kernel launch with the
  kernel, its operands' shapes and dtypes, the backend and the time it took.
"""
import contextlib
import importlib
import os
import sys
import time
import types

from engine.errors import DeviceError

# Device -> default backend module. `cuda` is listed only where Triton can run: on a
# machine with an NVIDIA GPU, or anywhere under TRITON_INTERPRET=1 (the interpreter
# runs the same kernels on the CPU). Its table is built on first use, so importing
# engine never imports torch or triton.
DEFAULT_BACKENDS = {"cpu": "kernels.numba"}
REFERENCE = "kernels.reference"
LAZY_DEVICES = ("cuda",)


def _triton_can_run():
    import importlib.util
    if importlib.util.find_spec("triton") is None or importlib.util.find_spec("torch") is None:
        return False
    if os.environ.get("TRITON_INTERPRET") == "1":
        return True
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


if _triton_can_run():
    DEFAULT_BACKENDS["cuda"] = "kernels.triton"

_settings = {
    "cpu_backend": os.environ.get("ENGINE_BACKEND", "numba"),
    "fallback": os.environ.get("ENGINE_ALLOW_FALLBACK") == "1",
    "log": os.environ.get("ENGINE_LOG_KERNELS") == "1",
}
_active = {}   # device -> kernel table in force, rebuilt whenever a switch changes


def kernel_names(module):
    return tuple(module.__all__)


def _unavailable(backend, name):
    def missing(*args, **kwargs):
        raise NotImplementedError(
            f"{name}: the {backend} backend has no kernel for it. Hint: set "
            f"ENGINE_ALLOW_FALLBACK=1 or use engine.dispatch.allow_fallback() to run the "
            f"numpy reference instead")
    return missing


def _describe_args(args):
    parts = []
    for a in args:
        shape = getattr(a, "shape", None)
        if shape is not None and hasattr(a, "dtype"):
            parts.append(f"{tuple(shape)}:{a.dtype}")
        elif isinstance(a, (int, float)) or a is None:
            parts.append(repr(a))
    return " ".join(parts)


def _logged(backend, name, fn):
    def launch(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        ms = (time.perf_counter() - start) * 1e3
        print(f"[kernel] {backend:<9} {name:<20} {_describe_args(args):<40} {ms:8.3f} ms",
              file=sys.stderr)
        return out
    return launch


def _build_table(module_name):
    """A namespace of the backend's kernels, completed from the reference if allowed."""
    module = importlib.import_module(module_name)
    reference = importlib.import_module(REFERENCE)
    backend = module_name.rsplit(".", 1)[-1]
    table = {}
    for name in kernel_names(reference):
        fn = getattr(module, name, None)
        if fn is None:
            if _settings["fallback"]:
                # A device backend says how to run a host kernel on its arrays.
                fn = getattr(module, "borrow", lambda f: f)(getattr(reference, name))
            else:
                fn = _unavailable(backend, name)
        table[name] = _logged(backend, name, fn) if _settings["log"] else fn
    return types.SimpleNamespace(backend=backend, **table)


def _rebuild():
    _active.clear()
    for device, module_name in DEFAULT_BACKENDS.items():
        if device == "cpu" and _settings["cpu_backend"] == "reference":
            module_name = REFERENCE
        if device not in LAZY_DEVICES:
            _active[device] = _build_table(module_name)


def kernels_for(device):
    """The kernel table for `device` (the hook the autograd runtime calls per op)."""
    try:
        return _active[device]
    except KeyError:
        pass
    if device in DEFAULT_BACKENDS:           # a lazy device's first use: build its table
        _active[device] = _build_table(DEFAULT_BACKENDS[device])
        return _active[device]
    hint = "use device='cpu'"
    if device == "cuda":
        hint = ("the cuda device needs Triton and torch with an NVIDIA GPU; without one, set "
                "TRITON_INTERPRET=1 before importing engine to run the Triton kernels on the "
                "CPU (slowly), or use device='cpu'")
    raise DeviceError(f"device {device!r} has no backend here (available: "
                      f"{', '.join(sorted(DEFAULT_BACKENDS))}). Hint: {hint}")


@contextlib.contextmanager
def _setting(key, value):
    previous = _settings[key]
    _settings[key] = value
    _rebuild()
    try:
        yield
    finally:
        _settings[key] = previous
        _rebuild()


def use_backend(name):
    """Context manager: run CPU ops on `name` ('numba' or 'reference')."""
    if name not in ("numba", "reference"):
        raise ValueError(f"use_backend: unknown CPU backend {name!r}. Hint: 'numba' or 'reference'")
    return _setting("cpu_backend", name)


def allow_fallback(enabled=True):
    """Context manager: let a backend borrow reference kernels it lacks."""
    return _setting("fallback", enabled)


def log_kernels(enabled=True):
    """Context manager: print one line per kernel launch."""
    return _setting("log", enabled)


_rebuild()
