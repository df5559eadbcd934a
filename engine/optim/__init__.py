"""Optimizers (engine.optim) with torch.optim's update rules, defaults and state_dict
layout: one small file each, on the shared `Optimizer` bookkeeping.

    sgd.py      SGD (momentum, Nesterov)      adagrad.py  Adagrad
    rmsprop.py  RMSprop                       adam.py     Adam, AdamW
    nadam.py    NAdam                         lr_scheduler.py, lr_finder.py (find_lr)
"""
from engine.optim import lr_scheduler
from engine.optim.adagrad import Adagrad
from engine.optim.adam import Adam, AdamW
from engine.optim.lr_finder import LRFinderResult, find_lr
from engine.optim.nadam import NAdam
from engine.optim.optimizer import Optimizer
from engine.optim.rmsprop import RMSprop
from engine.optim.sgd import SGD

__all__ = ["Adagrad", "Adam", "AdamW", "LRFinderResult", "NAdam", "Optimizer", "RMSprop",
           "SGD", "find_lr", "lr_scheduler"]
