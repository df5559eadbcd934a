"""engine.nn (Module, Linear, activations, containers, losses) against torch: the same
weights in, the same values and gradients out; one end-to-end training run with Adam.
(The optimizers themselves are tested in test_optim.py.)"""
import warnings

import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn
import engine.nn.functional as F
import engine.optim as optim
from helpers import check_against_torch

RTOL = ATOL = 1e-7   # float64, the project's tolerance against torch


# ---- helpers ------------------------------------------------------------------------
def torch_copy(module, torch_module):
    """`torch_module` (float64) holding `module`'s weights; keys and layouts must match."""
    torch_module.double()
    torch_module.load_state_dict({k: torch.from_numpy(v.numpy().copy())
                                  for k, v in module.state_dict().items()})
    return torch_module


def check_module(module, torch_module, x, seed=0):
    """Forward, then backward with a random upstream gradient: the output, the input's
    gradient and every parameter's gradient must match torch's (float64)."""
    module.to(eg.float64)
    torch_copy(module, torch_module)
    ex = eg.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    ey, ty = module(ex), torch_module(tx)
    np.testing.assert_allclose(ey.numpy(), ty.detach().numpy(), rtol=RTOL, atol=ATOL)
    upstream = np.random.default_rng(seed).standard_normal(tuple(ty.shape)) + 0.5
    ey.backward(eg.tensor(upstream))
    ty.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    torch_params = dict(torch_module.named_parameters())
    names = [name for name, _ in module.named_parameters()]
    assert names == list(torch_params)
    for name, p in module.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_params[name].grad.numpy(),
                                   rtol=RTOL, atol=ATOL, err_msg=name)


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


# ---- layers against torch -----------------------------------------------------------
@pytest.mark.parametrize("shape", [(5, 7), (7,), (2, 3, 7), (1, 7)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    check_module(nn.Linear(7, 3, bias=bias), torch.nn.Linear(7, 3, bias=bias), rand(*shape))


@pytest.mark.parametrize("layer", ["ReLU", "Tanh", "Sigmoid", "Identity"])
def test_activations_match_torch(layer):
    model = nn.Sequential(nn.Linear(4, 6), getattr(nn, layer)())
    twin = torch.nn.Sequential(torch.nn.Linear(4, 6), getattr(torch.nn, layer)())
    check_module(model, twin, rand(9, 4))


def test_sequential_mlp_matches_torch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 8),
                          nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid())
    twin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 8), torch.nn.Tanh(),
                               torch.nn.Linear(8, 3), torch.nn.Sigmoid())
    check_module(model, twin, rand(5, 3, 4))


def test_flatten_dims():
    x = eg.zeros(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Flatten(start_dim=2)(x).shape == (2, 3, 20)


def test_linear_init_follows_torch_default():
    eg.manual_seed(1)
    layer = nn.Linear(50, 40)
    bound = 1 / np.sqrt(50)
    for p in (layer.weight, layer.bias):
        values = p.numpy()
        assert np.all(np.abs(values) <= bound)
        assert values.std() > bound / 3   # spread over the interval, not collapsed
    assert layer.weight.shape == (40, 50) and layer.bias.shape == (40,)
    assert layer.weight.dtype == eg.float32
    assert nn.Linear(3, 2, dtype=eg.float64).weight.dtype == eg.float64
    eg.manual_seed(1)
    again = nn.Linear(50, 40)
    np.testing.assert_array_equal(again.weight.numpy(), layer.weight.numpy())
    assert nn.Dense is nn.Linear


def test_linear_errors_name_the_layer():
    layer = nn.Linear(4, 2)
    with pytest.raises(eg.ShapeError, match=r"linear.*in_features=4"):
        layer(eg.zeros(3, 5))
    with pytest.raises(eg.DTypeError, match="linear"):
        layer(eg.zeros(3, 4, dtype=eg.float64))


# ---- Module bookkeeping -------------------------------------------------------------
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.scale = nn.Parameter(eg.ones(4))
        self.register_buffer("count", eg.zeros(1, dtype=eg.int64))
        self.register_buffer("stats", eg.zeros(4))
        self.register_buffer("scratch", eg.zeros(4), persistent=False)
        self.layers = nn.ModuleList([nn.Linear(4, 4), nn.ReLU()])

    def forward(self, x):
        x = self.fc(x) * self.scale
        for layer in self.layers:
            x = layer(x)
        return x


def test_registration_and_naming_match_torch_conventions():
    block = Block()
    assert [n for n, _ in block.named_parameters()] == [
        "scale", "fc.weight", "fc.bias", "layers.0.weight", "layers.0.bias"]
    assert list(block.state_dict()) == [
        "scale", "count", "stats", "fc.weight", "fc.bias", "layers.0.weight", "layers.0.bias"]
    assert [n for n, _ in block.named_buffers()] == ["count", "stats", "scratch"]
    assert [type(m).__name__ for m in block.children()] == ["Linear", "ModuleList"]
    assert [type(m).__name__ for m in block.modules()] == [
        "Block", "Linear", "ModuleList", "Linear", "ReLU"]
    assert block.layers[0] is list(block.layers)[0] and len(block.layers) == 2
    assert block(eg.zeros(2, 3)).shape == (2, 4)


def test_parameter_is_a_leaf_tensor_that_shares_storage():
    data = eg.zeros(3)
    p = nn.Parameter(data)
    assert isinstance(p, eg.Tensor) and p.requires_grad and p.is_leaf
    assert np.shares_memory(p.numpy(), data.numpy())
    assert type(p * 2) is eg.Tensor
    assert repr(p).startswith("Parameter containing:\ntensor(")
    assert not nn.Parameter(eg.zeros(2), requires_grad=False).requires_grad
    with pytest.raises(eg.DTypeError, match="Parameter"):
        nn.Parameter(eg.zeros(2, dtype=eg.int64))
    with pytest.raises(TypeError, match="Parameter"):
        nn.Parameter(np.zeros(2))


def test_shared_parameters_are_listed_once():
    layer = nn.Linear(3, 3)
    model = nn.Sequential(layer, nn.ReLU(), layer)
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 3
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]  # torch's
    model.load_state_dict(model.state_dict())


def test_assignment_rules():
    block = Block()
    with pytest.raises(TypeError, match="parameter 'scale'"):
        block.scale = eg.ones(4)
    block.scale = None
    assert "scale" not in dict(block.named_parameters())
    block.extra = nn.Linear(1, 1)          # a new child registers itself
    assert "extra.weight" in dict(block.named_parameters())
    del block.extra
    assert "extra.weight" not in dict(block.named_parameters())

    class Forgetful(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(eg.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgetful()


def test_train_eval_propagate():
    block = Block()
    assert block.training and block.layers[1].training
    block.eval()
    assert not any(m.training for m in block.modules())
    block.train()
    assert all(m.training for m in block.modules())


def test_zero_grad():
    layer = nn.Linear(3, 2)
    layer(eg.ones(1, 3)).sum().backward()
    layer.zero_grad(set_to_none=False)
    assert not layer.weight.grad.numpy().any()
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None


def test_to_casts_floating_parameters_and_buffers_in_place():
    block = Block()
    weight = block.fc.weight
    block.fc(eg.ones(1, 3)).sum().backward()
    assert block.to(eg.float64) is block
    assert block.fc.weight is weight and weight.dtype == eg.float64
    assert weight.grad.dtype == eg.float64
    assert block.stats.dtype == eg.float64 and block.scratch.dtype == eg.float64
    assert block.count.dtype == eg.int64      # integer buffers keep their dtype
    assert block(eg.ones(2, 3, dtype=eg.float64)).dtype == eg.float64
    block.float()
    assert weight.dtype == eg.float32
    with pytest.raises(TypeError, match="floating point"):
        block.to(eg.int64)


def test_repr_matches_torch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Tanh(),
                          nn.Linear(3, 2, bias=False), nn.Sigmoid())
    twin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3), torch.nn.ReLU(),
                               torch.nn.Tanh(), torch.nn.Linear(3, 2, bias=False),
                               torch.nn.Sigmoid())
    assert repr(model) == repr(twin)
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_sequential_indexing():
    a, b, c = nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1)
    model = nn.Sequential(a, b, c)
    assert model[0] is a and model[-1] is c and len(model) == 3
    assert list(model[1:]) == [b, c]
    with pytest.raises(IndexError):
        model[3]


# ---- state_dict ---------------------------------------------------------------------
def test_state_dict_round_trip():
    eg.manual_seed(1)
    source = Block()
    source.stats.copy_(eg.tensor([1.0, 2.0, 3.0, 4.0]))
    eg.manual_seed(2)
    target = Block()
    x = eg.randn(5, 3)
    assert not np.allclose(source(x).numpy(), target(x).numpy())
    result = target.load_state_dict(source.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(source(x).numpy(), target(x).numpy())
    np.testing.assert_array_equal(target.stats.numpy(), [1, 2, 3, 4])
    # Values are copied, not aliased; the state_dict itself shares the model's storage.
    assert not np.shares_memory(source.fc.weight.numpy(), target.fc.weight.numpy())
    state = source.state_dict()
    assert np.shares_memory(state["fc.weight"].numpy(), source.fc.weight.numpy())
    assert not state["fc.weight"].requires_grad


def test_state_dict_round_trip_with_torch():
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    model.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    x = rand(3, 4).astype(np.float32)
    np.testing.assert_allclose(model(eg.tensor(x)).numpy(),
                               twin(torch.tensor(x)).detach().numpy(), rtol=1e-6, atol=1e-6)


def test_load_state_dict_strict_reports_every_problem_at_once():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    before = model[0].weight.numpy().copy()
    state = model.state_dict()
    del state["2.bias"], state["2.weight"]
    state["0.weight"] = eg.zeros(5, 3)
    state["extra"] = eg.zeros(1)
    state["0.bogus"] = eg.zeros(1)
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(state)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Sequential:")
    for text in ['Missing key(s) in state_dict: "2.weight", "2.bias".',
                 'Unexpected key(s) in state_dict: "extra", "0.bogus".',
                 "size mismatch for 0.weight: copying a param with shape (5, 3) from "
                 "checkpoint, the shape in current model is (4, 3)."]:
        assert text in message
    np.testing.assert_array_equal(model[0].weight.numpy(), before)   # nothing copied

    # strict=False tolerates missing and unexpected keys, never a shape mismatch.
    with pytest.raises(RuntimeError, match="size mismatch for 0.weight"):
        model.load_state_dict(state, strict=False)
    state["0.weight"] = eg.ones(4, 3)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["2.weight", "2.bias"]
    assert result.unexpected_keys == ["extra", "0.bogus"]
    np.testing.assert_array_equal(model[0].weight.numpy(), np.ones((4, 3)))


# ---- losses against torch ------------------------------------------------------------
REDUCTIONS = ["mean", "sum", "none"]


def check_loss(engine_fn, torch_fn, inputs):
    """A loss against torch in float64: value and shape (0-d for mean/sum), then the
    gradients of every floating input under a random upstream gradient."""
    check_against_torch(engine_fn, torch_fn, inputs, dtype=np.float64)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("shape", [(6, 5), (5,), (3, 4, 2, 2)])
def test_cross_entropy_matches_torch(reduction, smoothing, shape):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal(shape) * 3
    classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else shape[:1] + shape[2:]
    target = rng.integers(0, classes, target_shape).astype(np.int64)
    check_loss(
        lambda x, t: F.cross_entropy(x, t, reduction=reduction, label_smoothing=smoothing),
        lambda x, t: torch.nn.functional.cross_entropy(x, t, reduction=reduction,
                                                       label_smoothing=smoothing),
        [logits, target])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction):
    rng = np.random.default_rng(4)
    log_probs = rng.standard_normal((7, 4))
    target = rng.integers(0, 4, 7)
    check_loss(lambda x, t: F.nll_loss(x, t, reduction=reduction),
               lambda x, t: torch.nn.functional.nll_loss(x, t, reduction=reduction),
               [log_probs, target])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_matches_torch(reduction):
    check_loss(lambda x, y: F.mse_loss(x, y, reduction=reduction),
               lambda x, y: torch.nn.functional.mse_loss(x, y, reduction=reduction),
               [rand(4, 3, seed=1), rand(4, 3, seed=2)])


def test_cross_entropy_float32_and_int32_targets():
    logits = rand(8, 10).astype(np.float32)
    target = np.arange(8, dtype=np.int32)
    ours = F.cross_entropy(eg.tensor(logits), eg.tensor(target))
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits),
                                               torch.tensor(target, dtype=torch.int64))
    assert ours.dtype == eg.float32
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-6)


def test_loss_modules_call_the_functional_losses():
    x, t = eg.randn(4, 3), eg.tensor([0, 2, 1, 1])
    y = eg.randn(4, 3)
    np.testing.assert_array_equal(
        nn.CrossEntropyLoss(reduction="sum", label_smoothing=0.2)(x, t).numpy(),
        F.cross_entropy(x, t, reduction="sum", label_smoothing=0.2).numpy())
    np.testing.assert_array_equal(nn.NLLLoss()(x, t).numpy(), F.nll_loss(x, t).numpy())
    np.testing.assert_array_equal(nn.MSELoss(reduction="none")(x, y).numpy(),
                                  F.mse_loss(x, y, reduction="none").numpy())
    with pytest.raises(ValueError, match="reduction"):
        nn.MSELoss(reduction="average")


def test_cross_entropy_validates_target():
    logits = eg.randn(4, 3)
    with pytest.raises(eg.DTypeError, match=r"cross_entropy: target must hold integer"):
        F.cross_entropy(logits, eg.zeros(4))
    with pytest.raises(eg.ShapeError, match=r"cross_entropy: target must have shape \(4,\)"):
        F.cross_entropy(logits, eg.tensor([0, 1, 2]))
    with pytest.raises(eg.ShapeError, match=r"target must have shape \(4,\)"):
        F.cross_entropy(logits, eg.zeros(4, 3, dtype=eg.int64))   # one-hot
    with pytest.raises(IndexError, match=r"cross_entropy: target 3 is out of bounds for 3"):
        F.cross_entropy(logits, eg.tensor([0, 1, 2, 3]))
    with pytest.raises(IndexError, match=r"target -1 is out of bounds"):
        F.nll_loss(logits, eg.tensor([0, -1, 2, 1]))
    with pytest.raises(ValueError, match="reduction must be one of"):
        F.cross_entropy(logits, eg.tensor([0, 1, 2, 1]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(logits, eg.tensor([0, 1, 2, 1]), label_smoothing=1.5)
    with pytest.raises(eg.DTypeError, match="floating point scores"):
        F.cross_entropy(eg.tensor([[1, 2]]), eg.tensor([0]))


def test_mse_loss_warns_on_broadcast():
    with pytest.warns(UserWarning, match="different to the input size"):
        F.mse_loss(eg.zeros(3, 1), eg.zeros(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.mse_loss(eg.zeros(3), eg.zeros(3))


def test_training_a_model_end_to_end_matches_torch():
    """Linear + ReLU + Linear, cross-entropy, Adam: 20 float64 steps in lockstep."""
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(eg.float64)
    twin = torch_copy(model, torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                                 torch.nn.Linear(8, 3)))
    ours, theirs = optim.Adam(model.parameters(), lr=0.01), \
        torch.optim.Adam(twin.parameters(), lr=0.01)
    rng = np.random.default_rng(5)
    for _ in range(20):
        x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
        loss = F.cross_entropy(model(eg.tensor(x)), eg.tensor(y), label_smoothing=0.05)
        their_loss = torch.nn.functional.cross_entropy(twin(torch.tensor(x)), torch.tensor(y),
                                                       label_smoothing=0.05)
        np.testing.assert_allclose(loss.item(), their_loss.item(), rtol=1e-9)
        ours.zero_grad(), theirs.zero_grad()
        loss.backward(), their_loss.backward()
        ours.step(), theirs.step()
    for (name, p), q in zip(model.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-9, err_msg=name)
