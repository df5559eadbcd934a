"""Runnable examples: `python -m examples.<name>`. Each is a script a student can read
top to bottom; its functions are importable so tests can run them small."""
