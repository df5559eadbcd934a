"""Op families. Each op checks its operands, then runs a Function on the kernels of
the operands' device (see engine/autograd.py for the Function pattern)."""
