"""Builds the one compiled piece: the autograd runtime in engine/_core.py.

_core.py is plain Python (the fallback when the extension is absent or disabled with
ENGINE_NO_EXT=1); engine/_core.pxd gives Cython the C types it compiles it with.
Everything else lives in pyproject.toml.
"""
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("engine._core", ["engine/_core.py"])],
        compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
    )
)
