"""Load the autograd runtime: the compiled extension, or its Python source.

`engine/_core.py` is both the source Cython compiles and the pure-Python fallback.
When the extension is built, Python's import system prefers it; ENGINE_NO_EXT=1
loads the .py source instead (bench/overhead.py compares the two).
"""
import importlib
import importlib.util
import os
import pathlib
import sys


def _load_source():
    path = pathlib.Path(__file__).with_name("_core.py")
    spec = importlib.util.spec_from_file_location("engine._core", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["engine._core"] = module
    spec.loader.exec_module(module)
    return module


if os.environ.get("ENGINE_NO_EXT") == "1":
    core = _load_source()
else:
    core = importlib.import_module("engine._core")

#: True when the Cython extension is in use.
COMPILED = not core.__file__.endswith(".py")
