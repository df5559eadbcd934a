"""Training on cuda: engine.train.fit moves each batch to the model's device, and the
optimizers and schedulers run on device tensors. The same seeded run on the CPU
(Numba kernels) and on cuda (Triton kernels) must follow the same trajectory."""
import numpy as np
import pytest

import engine as eg
import engine.nn as nn
import engine.optim as optim
from engine.data import DataLoader, TensorDataset
from engine.train import evaluate, fit, model_device

pytestmark = [pytest.mark.triton, pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _run(device, optimizer_cls, **kwargs):
    eg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((96, 12)).astype(np.float32)
    y = (x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 1)
    data = TensorDataset(eg.from_numpy(x), eg.from_numpy(y))
    model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 3))
    model.to(device)
    optimizer = optimizer_cls(model.parameters(), **kwargs)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    loader = DataLoader(data, batch_size=32, shuffle=True, generator=eg.Generator(0))
    history = fit(model, nn.CrossEntropyLoss(), optimizer, loader, DataLoader(data, 48),
                  epochs=3, scheduler=scheduler, verbose=False, progress=False)
    return model, history, evaluate(model, nn.CrossEntropyLoss(), DataLoader(data, 96))


@pytest.mark.parametrize("optimizer_cls, kwargs", [
    (optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-3)),
    (optim.Adam, dict(lr=0.01)),
    (optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
], ids=["sgd", "adam", "adamw"])
def test_fit_on_cuda_follows_the_cpu_trajectory(optimizer_cls, kwargs):
    cpu_model, cpu_history, cpu_eval = _run("cpu", optimizer_cls, **kwargs)
    cuda_model, cuda_history, cuda_eval = _run("cuda", optimizer_cls, **kwargs)
    assert model_device(cuda_model) == "cuda" and model_device(cpu_model) == "cpu"
    np.testing.assert_allclose(cuda_history["loss"], cpu_history["loss"], rtol=1e-5)
    np.testing.assert_allclose(cuda_history["val_loss"], cpu_history["val_loss"], rtol=1e-5)
    np.testing.assert_allclose(cuda_eval[0], cpu_eval[0], rtol=1e-5)
    for (name, p), (_, q) in zip(cuda_model.named_parameters(), cpu_model.named_parameters()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
