"""`python -m bench`: the op benchmark (see bench/run.py and bench/README.md)."""
import sys

from bench.run import main

_, _, failed = main()
sys.exit(1 if failed else 0)
