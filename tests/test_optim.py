"""engine.optim's SGD, Adagrad, RMSprop, Adam, AdamW and NAdam against torch.optim:
identical float64 parameters and gradients, 1 step at rtol 1e-12 and 100 steps at 1e-9;
defaults, state layout and state_dict round trips, argument errors; find_lr."""
import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn
import engine.optim as optim
from engine.data import DataLoader, TensorDataset

SHAPES = [(4, 3), (3,), (2, 2, 2)]

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.05)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.003, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.5))),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.05, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.5, weight_decay=0.05, eps=1e-6)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.01)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
    ("NAdam", dict()),
    ("NAdam", dict(lr=0.01, weight_decay=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("NAdam", dict(lr=0.005, betas=(0.8, 0.9), momentum_decay=0.01)),
]


@pytest.fixture(autouse=True)
def _torch_float64_scalars():
    """torch keeps some optimizer scalars (NAdam's mu_product) in tensors of its
    default dtype; float64 makes them doubles, as the engine's are."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def make_pair(name, kwargs, groups=False):
    rng = np.random.default_rng(3)
    values = [rng.standard_normal(shape) for shape in SHAPES]
    ours = [nn.Parameter(eg.tensor(v)) for v in values]
    theirs = [torch.nn.Parameter(torch.tensor(v)) for v in values]
    if groups:
        ours = [{"params": ours[:2]}, {"params": ours[2:], "lr": 0.02}]
        theirs = [{"params": theirs[:2]}, {"params": theirs[2:], "lr": 0.02}]
    return (getattr(optim, name)(ours, **kwargs),
            getattr(torch.optim, name)(theirs, **kwargs))


def params_of(optimizer):
    return [p for group in optimizer.param_groups for p in group["params"]]


def run_steps(optimizers, steps, rng):
    for _ in range(steps):
        for params in zip(*map(params_of, optimizers)):
            g = rng.standard_normal(tuple(params[0].shape))
            for p in params:
                p.grad = torch.tensor(g) if isinstance(p, torch.Tensor) else eg.tensor(g)
        for optimizer in optimizers:
            optimizer.step()


def assert_params_match(pair, rtol):
    for p, q in zip(*map(params_of, pair)):
        np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("name,kwargs", CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("groups", [False, True])
def test_optimizer_matches_torch(name, kwargs, groups):
    pair = make_pair(name, kwargs, groups)
    rng = np.random.default_rng(0)
    run_steps(pair, 1, rng)
    assert_params_match(pair, 1e-12)
    run_steps(pair, 99, rng)
    assert_params_match(pair, 1e-9)


@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW", "NAdam"])
def test_defaults_are_torchs(name):
    ours, theirs = make_pair(name, dict(lr=0.1) if name == "SGD" else dict())
    for key, value in ours.defaults.items():
        assert key in theirs.defaults, f"{name}: hyperparameter {key!r} unknown to torch"
        assert theirs.defaults[key] == value, f"{name}.{key}: {value} != {theirs.defaults[key]}"


@pytest.mark.parametrize("name,kwargs", [("Adagrad", {}), ("RMSprop", dict(momentum=0.9,
                                                                            centered=True)),
                                         ("AdamW", dict(amsgrad=True)), ("NAdam", {})])
def test_state_layout_matches_torch(name, kwargs):
    ours, theirs = make_pair(name, kwargs)
    run_steps((ours, theirs), 3, np.random.default_rng(0))
    p, q = params_of(ours)[0], params_of(theirs)[0]
    assert set(ours.state[p]) == set(theirs.state[q])
    assert ours.state[p]["step"] == 3
    for key, value in ours.state[p].items():
        if isinstance(value, eg.Tensor):
            np.testing.assert_allclose(value.numpy(), theirs.state[q][key].numpy(), rtol=1e-12)


@pytest.mark.parametrize("name,kwargs", [("Adagrad", dict(lr=0.1)),
                                         ("RMSprop", dict(momentum=0.9, centered=True)),
                                         ("AdamW", dict(lr=0.01)), ("NAdam", dict(lr=0.01))])
def test_state_dict_round_trip(name, kwargs):
    """5 steps, save, restore into a fresh optimizer over copied parameters, 5 more:
    bitwise the same as 10 uninterrupted steps."""
    original, _ = make_pair(name, kwargs, groups=True)
    run_steps([original], 5, np.random.default_rng(0))
    saved = original.state_dict()
    resumed, _ = make_pair(name, dict(kwargs, lr=0.5), groups=True)
    with eg.no_grad():
        for p, q in zip(params_of(resumed), params_of(original)):
            p.copy_(q)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[1]["lr"] == 0.02
    run_steps([original], 5, np.random.default_rng(1))
    run_steps([resumed], 5, np.random.default_rng(1))
    for p, q in zip(params_of(resumed), params_of(original)):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_argument_errors():
    p = nn.Parameter(eg.zeros(2))
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.Adagrad([p], lr=-1)
    with pytest.raises(ValueError, match="Invalid alpha"):
        optim.RMSprop([p], alpha=-0.1)
    with pytest.raises(ValueError, match="Invalid beta"):
        optim.NAdam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="Invalid momentum_decay"):
        optim.NAdam([p], momentum_decay=-1)
    with pytest.raises(ValueError, match="Invalid weight_decay"):
        optim.AdamW([p], weight_decay=-1)


def test_frozen_parameters_are_skipped():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    nn.utils.freeze(model[0])
    before = model[0].weight.numpy().copy()
    opt = optim.RMSprop(model.parameters(), lr=0.1)
    model(eg.randn(5, 3)).sum().backward()
    opt.step()
    np.testing.assert_array_equal(model[0].weight.numpy(), before)
    assert model[0].weight.grad is None and model[0].weight not in opt.state
    assert model[1].weight in opt.state


# ---- find_lr ------------------------------------------------------------------------
def test_find_lr_sweeps_and_restores():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((512, 8)).astype(np.float32)
    y = (x @ rng.standard_normal(8) > 0).astype(np.int64)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True,
                        generator=eg.Generator(0))
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    result = optim.find_lr(model, nn.CrossEntropyLoss(), opt, loader, start_lr=1e-5,
                           end_lr=10.0)
    assert 3 <= len(result.lrs) == len(result.losses) <= len(loader)
    assert result.lrs[0] == 1e-5
    ratios = np.diff(np.log(result.lrs))
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-9)       # exponential growth
    assert 1e-5 <= result.suggestion <= result.min_loss_lr <= 10.0
    assert min(result.losses) < result.losses[0]                     # it did learn
    for key, value in model.state_dict().items():                   # nothing changed
        np.testing.assert_array_equal(value.numpy(), before[key])
    assert opt.param_groups[0]["lr"] == 0.01 and opt.state == {}


def test_optimizer_state_layout():
    ours, theirs = make_pair("Adam", {})
    run_steps((ours, theirs), 3, np.random.default_rng(0))
    p = params_of(ours)[0]
    assert ours.state[p]["step"] == 3
    np.testing.assert_allclose(ours.state[p]["exp_avg"].numpy(),
                               theirs.state[params_of(theirs)[0]]["exp_avg"].numpy(),
                               rtol=1e-12)
    sd = ours.state_dict()
    assert sorted(sd["state"]) == [0, 1, 2]
    assert sd["param_groups"][0]["params"] == [0, 1, 2]
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    plain, _ = make_pair("SGD", dict(lr=0.1))
    run_steps([plain], 1, np.random.default_rng(0))
    assert plain.state == {}    # plain SGD keeps no buffers


@pytest.mark.parametrize("name,kwargs", [("SGD", dict(lr=0.05, momentum=0.9)),
                                         ("Adam", dict(lr=0.01))])
def test_optimizer_state_dict_round_trip(name, kwargs):
    """Stop after 5 steps, restore into a fresh optimizer on copied parameters, and
    continue: the result equals 10 uninterrupted steps."""
    pair = make_pair(name, kwargs, groups=True)
    rng = np.random.default_rng(0)
    run_steps(pair, 5, rng)
    saved = pair[0].state_dict()
    resumed, _ = make_pair(name, dict(kwargs, lr=0.5), groups=True)   # lr gets restored
    with eg.no_grad():
        for p, q in zip(params_of(resumed), params_of(pair[0])):
            p.copy_(q)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    assert resumed.param_groups[1]["lr"] == 0.02
    state = next(iter(resumed.state.values()))
    original = next(iter(pair[0].state.values()))
    key = "momentum_buffer" if name == "SGD" else "exp_avg"
    assert not np.shares_memory(state[key].numpy(), original[key].numpy())

    run_steps([pair[0]], 5, np.random.default_rng(1))
    run_steps([resumed], 5, np.random.default_rng(1))
    for p, q in zip(params_of(resumed), params_of(pair[0])):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_load_state_dict_rejects_other_layouts():
    ours, _ = make_pair("SGD", dict(lr=0.1, momentum=0.9))
    grouped, _ = make_pair("SGD", dict(lr=0.1, momentum=0.9), groups=True)
    with pytest.raises(ValueError, match="parameter groups"):
        ours.load_state_dict(grouped.state_dict())
    small = optim.SGD([nn.Parameter(eg.zeros(2))], lr=0.1)
    with pytest.raises(ValueError, match="doesn't match the size"):
        small.load_state_dict(ours.state_dict())


def test_optimizer_zero_grad_and_skips_missing_grads():
    a, b = nn.Parameter(eg.ones(2)), nn.Parameter(eg.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    a.grad = eg.ones(2)
    opt.step()
    assert b.grad is None and b not in opt.state
    np.testing.assert_array_equal(b.numpy(), [1, 1])
    assert not np.allclose(a.numpy(), 1)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(a.grad.numpy(), [0, 0])
    opt.zero_grad()
    assert a.grad is None


def test_optimizer_step_with_closure():
    p = nn.Parameter(eg.tensor([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    assert opt.step(closure).item() == 4.0
    assert p.item() == 1.0     # 2 - 0.25 * 2 * 2


def test_optimizer_argument_errors():
    p = nn.Parameter(eg.zeros(2))
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
