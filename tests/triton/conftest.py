"""The Triton tests run in their own process: see tests/test_triton.py.

TRITON_INTERPRET must be set before triton is first imported, and the rest of the
suite must not run under it, so this directory is collected only when the process
was started for it: TRITON_INTERPRET=1 (no GPU: the interpreter), or
ENGINE_TRITON_TESTS=1 (a real GPU, bench/gpu_check.sh). Otherwise pytest skips the
whole directory and tests/test_triton.py starts the subprocess instead.
"""
import os

if os.environ.get("TRITON_INTERPRET") != "1" and os.environ.get("ENGINE_TRITON_TESTS") != "1":
    collect_ignore_glob = ["test_*.py"]
