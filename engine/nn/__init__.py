"""Layers (engine.nn), with torch's names, arguments and parameter layouts.

`functional` holds the stateless ops; the Modules here hold parameters and options
and call them. One small file per kind of layer:

    module.py     Module (registration, state_dict, to, train/eval)
    parameter.py  Parameter
    container.py  Sequential, ModuleList
    linear.py     Linear (alias Dense), Identity
    flatten.py    Flatten
    activation.py ReLU, Tanh, Sigmoid
    loss.py       CrossEntropyLoss, NLLLoss, MSELoss
"""
from engine.nn import functional
from engine.nn.activation import ReLU, Sigmoid, Tanh
from engine.nn.container import ModuleList, Sequential
from engine.nn.flatten import Flatten
from engine.nn.linear import Dense, Identity, Linear
from engine.nn.loss import CrossEntropyLoss, MSELoss, NLLLoss
from engine.nn.module import Module
from engine.nn.parameter import Parameter

__all__ = ["CrossEntropyLoss", "Dense", "Flatten", "Identity", "Linear", "MSELoss", "Module",
           "ModuleList", "NLLLoss", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "functional"]
