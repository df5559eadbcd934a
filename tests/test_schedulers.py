"""engine.optim.lr_scheduler against torch.optim.lr_scheduler: the sequences of
learning rates (and OneCycleLR's momenta) must be exactly equal, float for float."""
import math

import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn
import engine.optim as optim
from engine.optim import lr_scheduler

EPOCHS = 40


def pair(optimizer="SGD", groups=2, **kwargs):
    """The engine and torch optimizers over two param groups with different rates."""
    ours = [{"params": [nn.Parameter(eg.zeros(2))], "lr": 0.1 * (i + 1)} for i in range(groups)]
    theirs = [{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": 0.1 * (i + 1)}
              for i in range(groups)]
    if optimizer == "SGD":
        kwargs.setdefault("momentum", 0.9)
    return getattr(optim, optimizer)(ours, **kwargs), getattr(torch.optim, optimizer)(theirs,
                                                                                    **kwargs)


def sequences(make, steps=EPOCHS, optimizer="SGD", metrics=None, **kwargs):
    """Step both schedulers `steps` times; return both lists of (lrs, momenta) per step,
    starting with the state right after construction."""
    ours, theirs = pair(optimizer, **kwargs)
    schedulers = make(ours, lr_scheduler), make(theirs, torch.optim.lr_scheduler)
    records = ([], [])
    for step in range(steps + 1):
        for i, (opt, sched) in enumerate(zip((ours, theirs), schedulers)):
            momentum = [g.get("momentum", g.get("betas", (None,))[0]) for g in opt.param_groups]
            records[i].append(([g["lr"] for g in opt.param_groups], sched.get_last_lr(),
                               momentum))
        if step == steps:
            break
        for opt, sched in zip((ours, theirs), schedulers):
            opt.step()
            if metrics is None:
                sched.step()
            else:
                sched.step(metrics[step])
    return records


SCHEDULES = {
    "StepLR": lambda o, m: m.StepLR(o, step_size=7, gamma=0.3),
    "MultiStepLR": lambda o, m: m.MultiStepLR(o, milestones=[3, 10, 10, 25], gamma=0.5),
    "ExponentialLR": lambda o, m: m.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR": lambda o, m: m.CosineAnnealingLR(o, T_max=12, eta_min=0.001),
    "CosineAnnealingLR_no_min": lambda o, m: m.CosineAnnealingLR(o, T_max=7),
    "LambdaLR": lambda o, m: m.LambdaLR(o, lr_lambda=lambda e: 0.95 ** e / (1 + 0.1 * e)),
    "LambdaLR_per_group": lambda o, m: m.LambdaLR(
        o, lr_lambda=[lambda e: 1 / (e + 1), lambda e: 0.5 * math.cos(e)]),
    "OneCycleLR": lambda o, m: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=EPOCHS),
    "OneCycleLR_linear_3phase": lambda o, m: m.OneCycleLR(
        o, max_lr=0.8, epochs=4, steps_per_epoch=10, pct_start=0.25, anneal_strategy="linear",
        three_phase=True, div_factor=10.0, final_div_factor=100.0),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_sequence_equals_torch(name):
    ours, theirs = sequences(SCHEDULES[name])
    assert ours == theirs
    lrs = [lrs for lrs, _, _ in ours]
    assert len({tuple(x) for x in lrs}) > 2, "the schedule should change the rate"


def test_one_cycle_cycles_adams_beta1():
    ours, theirs = sequences(lambda o, m: m.OneCycleLR(o, max_lr=0.01, total_steps=EPOCHS),
                             optimizer="Adam")
    assert ours == theirs
    betas = [m[0] for _, _, m in ours]
    assert max(betas) == 0.95 and min(betas) == pytest.approx(0.85)


def test_one_cycle_stepping_past_the_end_raises():
    opt, _ = pair()
    sched = lr_scheduler.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    for _ in range(3):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        sched.step()


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs"),
    dict(factor=0.2, patience=1, cooldown=2, min_lr=[0.01, 0.05]),
    dict(patience=0, eps=0.05),
])
def test_reduce_on_plateau_equals_torch(kwargs):
    rng = np.random.default_rng(0)
    metrics = list(np.repeat(rng.uniform(0.5, 1.0, 15), 3)[:EPOCHS] - np.linspace(0, 0.1,
                                                                                 EPOCHS))
    make = lambda o, m: m.ReduceLROnPlateau(o, **kwargs)   # noqa: E731
    ours, theirs = sequences(make, metrics=metrics)
    assert ours == theirs


def test_state_dict_resumes_the_sequence():
    opt, _ = pair()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(4):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state and state["last_epoch"] == 4
    expected = []
    for _ in range(5):
        sched.step()
        expected.append(sched.get_last_lr())

    opt2, _ = pair()
    sched2 = lr_scheduler.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(state)
    for group, lr in zip(opt2.param_groups, state["_last_lr"]):
        group["lr"] = lr
    got = []
    for _ in range(5):
        sched2.step()
        got.append(sched2.get_last_lr())
    assert got == expected


def test_scheduler_argument_errors():
    opt, _ = pair()
    with pytest.raises(TypeError, match="not an Optimizer"):
        lr_scheduler.StepLR(object(), 3)
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        lr_scheduler.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="total_steps OR"):
        lr_scheduler.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(pair()[0], 3, last_epoch=5)
