"""Layers (engine.nn), with torch's names, arguments and parameter layouts.

`functional` holds the stateless ops; the Modules here hold parameters and options
and call them. One small file per kind of layer:

    module.py        Module (registration, state_dict, to, train/eval)
    parameter.py     Parameter
    container.py     Sequential, ModuleList, ModuleDict
    linear.py        Linear (alias Dense), Identity
    flatten.py       Flatten
    activation.py    ReLU, LeakyReLU, PReLU, ELU, SELU, GELU, SiLU, Sigmoid, Tanh,
                     Softmax, LogSoftmax, Step (the perceptron's)
    conv.py          Conv1d, Conv2d
    pooling.py       MaxPool2d, AvgPool2d, AdaptiveAvgPool2d
    normalization.py BatchNorm1d, BatchNorm2d, LayerNorm
    dropout.py       Dropout
    embedding.py     Embedding
    rnn.py           RNNCell, RNN, LSTMCell, LSTM
    attention.py     MultiheadAttention
    transformer.py   TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
                     TransformerDecoder, Transformer, PositionalEncoding
    loss.py          CrossEntropyLoss, NLLLoss, MSELoss, L1Loss, BCELoss, BCEWithLogitsLoss
    init.py          nn.init: xavier_*, kaiming_*, lecun_*, normal_, uniform_, ...
    utils.py         nn.utils: clip_grad_norm_, clip_grad_value_, max_norm_, penalties,
                     mc_dropout_predict, freeze/unfreeze
    summary.py       summary(model, input_shape): a Keras-style table
"""
from engine.nn import functional, init, utils
from engine.nn.activation import (
    ELU, GELU, SELU, LeakyReLU, LogSoftmax, PReLU, ReLU, Sigmoid, SiLU, Softmax, Step, Tanh)
from engine.nn.attention import MultiheadAttention
from engine.nn.container import ModuleDict, ModuleList, Sequential
from engine.nn.conv import Conv1d, Conv2d
from engine.nn.dropout import Dropout
from engine.nn.embedding import Embedding
from engine.nn.flatten import Flatten
from engine.nn.linear import Dense, Identity, Linear
from engine.nn.loss import (
    BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss)
from engine.nn.module import Module
from engine.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from engine.nn.parameter import Parameter
from engine.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from engine.nn.rnn import LSTM, RNN, LSTMCell, RNNCell
from engine.nn.summary import summary
from engine.nn.transformer import (
    PositionalEncoding, Transformer, TransformerDecoder, TransformerDecoderLayer,
    TransformerEncoder, TransformerEncoderLayer)

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
           "BatchNorm2d", "Conv1d", "Conv2d", "CrossEntropyLoss", "Dense", "Dropout", "ELU",
           "Embedding", "Flatten", "GELU", "Identity", "L1Loss", "LSTM", "LSTMCell",
           "LayerNorm", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss", "MaxPool2d", "Module",
           "ModuleDict", "ModuleList", "MultiheadAttention", "NLLLoss", "PReLU", "Parameter",
           "PositionalEncoding", "RNN", "RNNCell", "ReLU", "SELU", "Sequential", "SiLU",
           "Sigmoid", "Softmax", "Step", "Tanh", "Transformer", "TransformerDecoder",
           "TransformerDecoderLayer", "TransformerEncoder", "TransformerEncoderLayer",
           "functional", "init", "summary", "utils"]
