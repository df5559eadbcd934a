"""The digits demo's pieces, run small: the perceptron and a short MLP training.

The full demo (`make demo`) trains longer and asserts >= 95% itself; here a few
epochs must already be far above chance (10%), and the torch twin must start from
the engine's weights.
"""
import numpy as np
import pytest

import engine.nn as nn
from examples import digits


@pytest.fixture(scope="module")
def data():
    return digits.load_data()


def test_data_split(data):
    assert data.x_train.shape == (1437, 64) and data.x_test.shape == (360, 64)
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    assert data.x_train.min() >= 0 and data.x_train.max() <= 1
    # Stratified: every digit keeps its share (about 10%) of the test set.
    assert np.bincount(data.y_test, minlength=10).min() >= 34


def test_perceptron_learns(data):
    weights, bias = digits.train_perceptron(data, epochs=2)
    assert weights.shape == (10, 64) and bias.shape == (10,)
    assert digits.perceptron_accuracy(weights, bias, data.x_test, data.y_test) > 0.85


def test_short_mlp_training(data):
    model = digits.make_mlp()
    times = digits.train_engine_mlp(model, data, epochs=3, lr=3e-3)
    assert len(times) == 3 and all(t > 0 for t in times)
    assert digits.accuracy(digits.engine_logits(model, data.x_test), data.y_test) > 0.85


def test_torch_twin_starts_from_the_same_weights(data):
    model = digits.make_mlp()
    twin = digits.torch_twin(model)
    x = data.x_test[:16]
    np.testing.assert_allclose(digits.engine_logits(model, x), digits.torch_logits(twin, x),
                               rtol=1e-5, atol=1e-6)
    assert isinstance(model[0].weight, nn.Parameter)
