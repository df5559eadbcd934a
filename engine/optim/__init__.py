"""Optimizers (engine.optim) with torch.optim's update rules, defaults and state_dict
layout: one small file each, on the shared `Optimizer` bookkeeping."""
from engine.optim.adam import Adam
from engine.optim.optimizer import Optimizer
from engine.optim.sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]
