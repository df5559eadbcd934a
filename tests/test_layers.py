"""Every layer of engine.nn against its torch module, weights copied (torch's state_dict
keys and layouts): forward, then backward with a random upstream gradient — outputs,
input gradients, parameter gradients and buffers in float64 at 1e-7. Plus nn.init,
nn.utils, summary, ModuleDict and dropout statistics.

MultiheadAttention runs two paths: need_weights=True computes the attention weights
explicitly, need_weights=False calls F.scaled_dot_product_attention; both are tested.
"""
import math

import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn
import engine.nn.functional as F
import engine.optim as optim

RTOL = ATOL = 1e-7


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def away_from_zero(*shape, seed=0):
    """Values with |x| >= 0.1: activations' kinks stay out of reach of rounding."""
    x = rand(*shape, seed=seed)
    return np.where(np.abs(x) < 0.1, np.sign(x + 1e-12) * 0.1 + x, x)


def _flatten(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return [out]


def _engine_arg(a):
    if isinstance(a, np.ndarray):
        return eg.tensor(a, requires_grad=a.dtype.kind == "f")
    if isinstance(a, tuple):
        return tuple(_engine_arg(x) for x in a)
    return a


def _torch_arg(a):
    if isinstance(a, np.ndarray):
        return torch.tensor(a, requires_grad=a.dtype.kind == "f")
    if isinstance(a, tuple):
        return tuple(_torch_arg(x) for x in a)
    return a


def check_module(module, torch_module, *inputs, seed=0, **kwargs):
    """Copy module's weights into torch_module (float64), run both on `inputs` (numpy:
    floating ones require grad) and keyword arguments, compare every output, then
    backpropagate the same random upstream gradients and compare the gradients of the
    inputs and parameters, and the buffers (running statistics)."""
    module.to(eg.float64)
    torch_module.double()
    state = {k: torch.from_numpy(v.numpy().copy()) for k, v in module.state_dict().items()}
    torch_module.load_state_dict(state)     # strict: same keys and shapes as torch
    e_in, t_in = [_engine_arg(a) for a in inputs], [_torch_arg(a) for a in inputs]
    e_kw = {k: _engine_arg(v) for k, v in kwargs.items()}
    t_kw = {k: _torch_arg(v) for k, v in kwargs.items()}
    e_out, t_out = _flatten(module(*e_in, **e_kw)), _flatten(torch_module(*t_in, **t_kw))
    assert len(e_out) == len(t_out)
    rng = np.random.default_rng(seed)
    e_loss, t_loss = 0.0, 0.0
    for i, (e, t) in enumerate(zip(e_out, t_out)):
        if t is None:
            assert e is None
            continue
        assert tuple(e.shape) == tuple(t.shape), f"output {i}: {e.shape} vs {tuple(t.shape)}"
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"output {i}")
        if t.requires_grad:
            g = rng.standard_normal(tuple(t.shape)) + 0.5
            e_loss = e_loss + (e * eg.tensor(g)).sum()
            t_loss = t_loss + (t * torch.tensor(g)).sum()
    if isinstance(t_loss, torch.Tensor):
        e_loss.backward()
        t_loss.backward()
        for i, (e, t) in enumerate(zip(_flatten(e_in), _flatten(t_in))):
            if isinstance(t, torch.Tensor) and t.requires_grad and t.grad is not None:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=RTOL,
                                           atol=ATOL, err_msg=f"gradient of input {i}")
        torch_params = dict(torch_module.named_parameters())
        assert [n for n, _ in module.named_parameters()] == list(torch_params)
        for name, p in module.named_parameters():
            q = torch_params[name]
            if q.grad is None:
                assert p.grad is None or not p.grad.numpy().any(), name
                continue
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=RTOL, atol=ATOL,
                                       err_msg=f"gradient of {name}")
    torch_buffers = dict(torch_module.named_buffers())
    for name, b in module.named_buffers():
        if name in torch_buffers:
            np.testing.assert_allclose(b.numpy(), torch_buffers[name].numpy(), rtol=RTOL,
                                       atol=ATOL, err_msg=f"buffer {name}")
    return e_out, t_out


# ---- activations -------------------------------------------------------------------------
ACTIVATIONS = [
    ("LeakyReLU", (), (0.2,)),
    ("PReLU", (), ()),
    ("ELU", (0.7,), (0.7,)),
    ("SELU", (), ()),
    ("GELU", (), ()),
    ("GELU", ("tanh",), ("tanh",)),
    ("SiLU", (), ()),
    ("Softmax", (1,), (1,)),
    ("LogSoftmax", (-1,), (-1,)),
    ("Sigmoid", (), ()),
    ("Tanh", (), ()),
    ("ReLU", (), ()),
]


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_matches_torch(name, ours, theirs):
    ours = (0.2,) if name == "LeakyReLU" else ours
    check_module(nn.Sequential(nn.Linear(5, 6), getattr(nn, name)(*ours)),
                 torch.nn.Sequential(torch.nn.Linear(5, 6), getattr(torch.nn, name)(*theirs)),
                 away_from_zero(7, 5))


def test_prelu_per_channel_matches_torch():
    layer = nn.PReLU(3, init=0.1)
    assert layer.weight.shape == (3,) and np.allclose(layer.weight.numpy(), 0.1)
    check_module(layer, torch.nn.PReLU(3), away_from_zero(2, 3, 4))


def test_step_is_the_heaviside_function():
    x = eg.tensor([-2.0, -0.0, 0.0, 1e-9, 3.0])
    np.testing.assert_array_equal(nn.Step()(x).numpy(),
                                  torch.heaviside(torch.tensor(x.numpy()), torch.tensor(1.0)))
    assert nn.Step()(eg.randn(3, requires_grad=True)).requires_grad is False


def test_softmax_requires_dim():
    with pytest.raises(ValueError, match="dim is required"):
        nn.Softmax()(eg.randn(2, 3))


# ---- convolution and pooling -------------------------------------------------------------
CONV2D = [
    dict(),
    dict(stride=2, padding=1),
    dict(padding=(2, 1), dilation=(2, 1)),
    dict(groups=2, bias=False),
    dict(padding="same"),
    dict(padding="valid", stride=(1, 2)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("kwargs", CONV2D, ids=str)
def test_conv2d_matches_torch(kwargs):
    check_module(nn.Conv2d(4, 6, (3, 2), **kwargs), torch.nn.Conv2d(4, 6, (3, 2), **kwargs),
                 rand(2, 4, 7, 6))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_conv2d_same_padding_even_kernel_and_unbatched():
    check_module(nn.Conv2d(2, 3, 4, padding="same"), torch.nn.Conv2d(2, 3, 4, padding="same"),
                 rand(2, 2, 5, 6))
    check_module(nn.Conv2d(2, 3, 3), torch.nn.Conv2d(2, 3, 3), rand(2, 5, 5))


@pytest.mark.parametrize("kwargs", [dict(), dict(stride=2, padding=2, dilation=2),
                                    dict(groups=3, bias=False), dict(padding="same")], ids=str)
def test_conv1d_matches_torch(kwargs):
    check_module(nn.Conv1d(3, 6, 3, **kwargs), torch.nn.Conv1d(3, 6, 3, **kwargs),
                 rand(2, 3, 11))


def test_conv_init_and_arguments():
    eg.manual_seed(0)
    conv = nn.Conv2d(3, 8, 5)
    bound = 1 / math.sqrt(3 * 25)
    assert conv.weight.shape == (8, 3, 5, 5) and conv.bias.shape == (8,)
    assert np.abs(conv.weight.numpy()).max() <= bound and conv.weight.numpy().std() > bound / 3
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 8, 3, groups=2)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(3, 8, 3, stride=2, padding="same")


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2,
                                                               padding=1)], ids=str)
def test_max_pool2d_matches_torch(kwargs):
    x = np.random.default_rng(0).permutation(2 * 3 * 8 * 7).reshape(2, 3, 8, 7) / 10.0
    check_module(nn.MaxPool2d(**kwargs), torch.nn.MaxPool2d(**kwargs), x)


@pytest.mark.parametrize("kwargs", [dict(kernel_size=2), dict(kernel_size=3, stride=2,
                                                               padding=1),
                                    dict(kernel_size=3, stride=1, padding=1,
                                         count_include_pad=False)], ids=str)
def test_avg_pool2d_matches_torch(kwargs):
    check_module(nn.AvgPool2d(**kwargs), torch.nn.AvgPool2d(**kwargs), rand(2, 3, 8, 7))


@pytest.mark.parametrize("size", [1, (3, 2), (4, 7)], ids=str)
def test_adaptive_avg_pool2d_matches_torch(size):
    check_module(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), rand(2, 3, 8, 7))


# ---- normalization -----------------------------------------------------------------------
@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (8, 5)), ("BatchNorm1d", (4, 5, 3)),
                                        ("BatchNorm2d", (4, 5, 3, 2))])
@pytest.mark.parametrize("kwargs", [dict(), dict(momentum=None), dict(affine=False),
                                    dict(momentum=0.3, eps=1e-3)], ids=str)
def test_batch_norm_train_and_eval_match_torch(cls, shape, kwargs):
    ours, theirs = getattr(nn, cls)(5, **kwargs), getattr(torch.nn, cls)(5, **kwargs)
    for step in range(3):                   # running statistics accumulate identically
        check_module(ours, theirs, rand(*shape, seed=step) * 2 + 1, seed=step)
    assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == 3
    assert ours.num_batches_tracked.dtype == eg.int64
    ours.eval(), theirs.eval()
    check_module(ours, theirs, rand(*shape, seed=9))
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_batch_norm_without_running_stats_matches_torch():
    ours = nn.BatchNorm2d(3, track_running_stats=False)
    theirs = torch.nn.BatchNorm2d(3, track_running_stats=False)
    check_module(ours, theirs, rand(4, 3, 2, 2))
    ours.eval(), theirs.eval()
    check_module(ours, theirs, rand(4, 3, 2, 2, seed=1))     # still batch statistics
    assert ours.running_mean is None and "running_mean" not in ours.state_dict()


def test_batch_norm_checks_its_input():
    with pytest.raises(eg.ShapeError, match="expected 4D input"):
        nn.BatchNorm2d(3)(eg.randn(2, 3))
    with pytest.raises(eg.ShapeError, match="expected 3 channels"):
        nn.BatchNorm1d(3)(eg.randn(2, 4))


@pytest.mark.parametrize("shape, kwargs", [((4,), dict()), ((3, 4), dict(eps=1e-3)),
                                           ((4,), dict(elementwise_affine=False)),
                                           ((4,), dict(bias=False))], ids=str)
def test_layer_norm_matches_torch(shape, kwargs):
    ours, theirs = nn.LayerNorm(shape, **kwargs), torch.nn.LayerNorm(shape, **kwargs)
    if ours.weight is not None:            # non-trivial affine parameters
        with eg.no_grad():
            ours.weight.copy_(eg.tensor(rand(*shape, seed=5)).float())
    check_module(ours, theirs, rand(2, 5, *shape))


# ---- dropout -----------------------------------------------------------------------------
def test_dropout_rate_scaling_and_eval_identity():
    layer = nn.Dropout(0.3)
    x = eg.ones(1_000_000)
    y = layer(x).numpy()
    dropped = np.mean(y == 0)
    assert abs(dropped - 0.3) <= 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    layer.eval()
    z = eg.randn(100)
    np.testing.assert_array_equal(layer(z).numpy(), z.numpy())
    assert repr(layer) == "Dropout(p=0.3, inplace=False)"
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_gradient_masks_like_the_forward():
    x = eg.ones(1000, requires_grad=True)
    y = nn.Dropout(0.5)(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


# ---- embedding ---------------------------------------------------------------------------
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_matches_torch(padding_idx):
    ours = nn.Embedding(10, 4, padding_idx=padding_idx)
    if padding_idx is not None:
        assert not ours.weight.numpy()[padding_idx].any()
    ids = np.array([[1, 2, 2, 9], [0, 2, 5, 1]], dtype=np.int64)
    check_module(ours, torch.nn.Embedding(10, 4, padding_idx=padding_idx), ids)


def test_embedding_from_pretrained_is_frozen():
    table = eg.randn(5, 3)
    layer = nn.Embedding.from_pretrained(table)
    assert not layer.weight.requires_grad
    np.testing.assert_array_equal(layer(eg.tensor([4, 0])).numpy(), table.numpy()[[4, 0]])


# ---- recurrent ---------------------------------------------------------------------------
def test_relu_rnn_matches_torch():
    """relu RNNs are composed from linear and relu: no fused cell needed."""
    check_module(nn.RNNCell(3, 5, nonlinearity="relu"),
                 torch.nn.RNNCell(3, 5, nonlinearity="relu"), rand(4, 3), rand(4, 5, seed=1))
    kwargs = dict(nonlinearity="relu", num_layers=2, bidirectional=True, batch_first=True)
    check_module(nn.RNN(3, 4, **kwargs), torch.nn.RNN(3, 4, **kwargs), rand(2, 5, 3))


def test_rnn_cell_matches_torch():
    check_module(nn.RNNCell(3, 5), torch.nn.RNNCell(3, 5), rand(4, 3), rand(4, 5, seed=1))
    check_module(nn.RNNCell(3, 5, bias=False), torch.nn.RNNCell(3, 5, bias=False), rand(3))


def test_lstm_cell_matches_torch():
    check_module(nn.LSTMCell(3, 5), torch.nn.LSTMCell(3, 5), rand(4, 3),
                 (rand(4, 5, seed=1), rand(4, 5, seed=2)))
    check_module(nn.LSTMCell(3, 5, bias=False), torch.nn.LSTMCell(3, 5, bias=False), rand(3))


RNN_CONFIGS = [
    dict(),
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False, batch_first=True),
]


@pytest.mark.parametrize("kwargs", RNN_CONFIGS, ids=str)
def test_rnn_matches_torch(kwargs):
    x = rand(2, 5, 3) if kwargs.get("batch_first") else rand(5, 2, 3)    # batch 2, length 5
    check_module(nn.RNN(3, 4, **kwargs), torch.nn.RNN(3, 4, **kwargs), x)


@pytest.mark.parametrize("kwargs", RNN_CONFIGS, ids=str)
def test_lstm_matches_torch(kwargs):
    layers = kwargs.get("num_layers", 1) * (2 if kwargs.get("bidirectional") else 1)
    state = (rand(layers, 2, 4, seed=1), rand(layers, 2, 4, seed=2))
    x = rand(2, 5, 3) if kwargs.get("batch_first") else rand(5, 2, 3)    # batch 2, length 5
    check_module(nn.LSTM(3, 4, **kwargs), torch.nn.LSTM(3, 4, **kwargs), x, state)


def test_lstm_unbatched_and_parameter_names():
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    names = [n for n, _ in lstm.named_parameters()]
    assert names == [n for n, _ in torch.nn.LSTM(3, 4, num_layers=2,
                                                 bidirectional=True).named_parameters()]
    assert "weight_hh_l1_reverse" in names
    check_module(lstm, torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True), rand(6, 3))


# ---- attention and transformers ----------------------------------------------------------
def causal(n):
    return np.triu(np.ones((n, n), dtype=bool), k=1)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights, average", [(True, True), (True, False), (False, True)])
def test_multihead_self_attention_matches_torch(batch_first, need_weights, average):
    ours = nn.MultiheadAttention(8, 2, batch_first=batch_first)
    theirs = torch.nn.MultiheadAttention(8, 2, batch_first=batch_first)
    x = rand(3, 5, 8) if batch_first else rand(5, 3, 8)
    check_module(ours, theirs, x, x, x, need_weights=need_weights,
                 average_attn_weights=average)


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("need_weights", [True, False])
def test_multihead_attention_masks_match_torch(need_weights):
    padding = np.zeros((2, 6), dtype=bool)
    padding[1, 4:] = True
    float_mask = rand(4, 6, seed=3)
    q, kv = rand(4, 2, 8), rand(6, 2, 8, seed=1)
    for kwargs in (dict(attn_mask=np.triu(np.ones((4, 6), dtype=bool), k=3)),
                   dict(attn_mask=float_mask), dict(key_padding_mask=padding),
                   dict(attn_mask=float_mask, key_padding_mask=padding)):
        check_module(nn.MultiheadAttention(8, 4), torch.nn.MultiheadAttention(8, 4), q, kv, kv,
                     need_weights=need_weights, **kwargs)


def test_multihead_attention_variants_match_torch():
    check_module(nn.MultiheadAttention(6, 3, kdim=4, vdim=5),
                 torch.nn.MultiheadAttention(6, 3, kdim=4, vdim=5),
                 rand(3, 2, 6), rand(4, 2, 4, seed=1), rand(4, 2, 5, seed=2))
    check_module(nn.MultiheadAttention(6, 2, bias=False),
                 torch.nn.MultiheadAttention(6, 2, bias=False), rand(3, 6), rand(3, 6),
                 rand(3, 6, seed=1))
    mha = nn.MultiheadAttention(8, 2)
    assert [n for n, _ in mha.named_parameters()] == \
        ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(7, 2)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_transformer_layers_match_torch(norm_first, activation):
    kwargs = dict(dim_feedforward=16, dropout=0.0, norm_first=norm_first, activation=activation)
    src, tgt = rand(5, 2, 8), rand(4, 2, 8, seed=1)
    check_module(nn.TransformerEncoderLayer(8, 2, **kwargs),
                 torch.nn.TransformerEncoderLayer(8, 2, **kwargs), src,
                 src_mask=causal(5))
    check_module(nn.TransformerDecoderLayer(8, 2, **kwargs),
                 torch.nn.TransformerDecoderLayer(8, 2, **kwargs), tgt, src,
                 tgt_mask=causal(4))


def test_transformer_stacks_match_torch():
    kwargs = dict(dim_feedforward=16, dropout=0.0, batch_first=True)
    padding = np.zeros((2, 5), dtype=bool)
    padding[0, 3:] = True
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, **kwargs), 2,
                                    norm=nn.LayerNorm(8))
    t_encoder = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(8, 2, **kwargs), 2,
                                            norm=torch.nn.LayerNorm(8),
                                            enable_nested_tensor=False)
    check_module(encoder, t_encoder, rand(2, 5, 8), src_key_padding_mask=padding)
    ours = nn.Transformer(8, 2, 2, 2, **kwargs)
    theirs = torch.nn.Transformer(8, 2, 2, 2, **kwargs)
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=eg.float64).numpy()
    np.testing.assert_array_equal(
        mask, torch.nn.Transformer.generate_square_subsequent_mask(4).numpy())
    check_module(ours, theirs, rand(2, 5, 8), rand(2, 4, 8, seed=1), tgt_mask=mask,
                 src_key_padding_mask=padding, memory_key_padding_mask=padding)
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))


def test_transformer_default_sizes_match_torch():
    ours, theirs = nn.TransformerEncoderLayer(32, 4), torch.nn.TransformerEncoderLayer(32, 4)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == \
        {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours.linear1.out_features == 2048 and ours.dropout.p == 0.1
    assert not ours.norm_first


def test_positional_encoding_values():
    pe = nn.PositionalEncoding(6, max_len=10)
    x = eg.zeros(4, 2, 6)
    out = pe(x).numpy()
    pos, i = 3, 1
    np.testing.assert_allclose(out[pos, 0, 2 * i], math.sin(pos / 10000 ** (2 * i / 6)),
                               rtol=1e-6)
    np.testing.assert_allclose(out[pos, 1, 2 * i + 1], math.cos(pos / 10000 ** (2 * i / 6)),
                               rtol=1e-6)
    assert "pe" not in pe.state_dict()
    assert nn.PositionalEncoding(6, batch_first=True)(eg.zeros(2, 4, 6)).shape == (2, 4, 6)


# ---- losses ------------------------------------------------------------------------------
def targets(n, classes, seed=0):
    return np.random.default_rng(seed).integers(0, classes, n).astype(np.int64)


def probabilities(*shape):
    return 1 / (1 + np.exp(-rand(*shape)))


LOSSES = [
    ("CrossEntropyLoss", dict(), lambda: (rand(6, 4), targets(6, 4))),
    ("CrossEntropyLoss", dict(label_smoothing=0.1, reduction="sum"),
     lambda: (rand(6, 4), targets(6, 4))),
    ("CrossEntropyLoss", dict(weight=np.array([1.0, 2.0, 0.5, 1.5]), ignore_index=1),
     lambda: (rand(6, 4), targets(6, 4))),
    ("NLLLoss", dict(reduction="none"), lambda: (rand(6, 4), targets(6, 4))),
    ("NLLLoss", dict(weight=np.array([1.0, 2.0, 0.5, 1.5])), lambda: (rand(6, 4), targets(6, 4))),
    ("MSELoss", dict(), lambda: (rand(3, 4), rand(3, 4, seed=1))),
    ("L1Loss", dict(reduction="sum"), lambda: (rand(3, 4), rand(3, 4, seed=1))),
    ("BCELoss", dict(), lambda: (probabilities(5, 2), (rand(5, 2, seed=1) > 0).astype(float))),
    ("BCELoss", dict(weight=np.array([0.5, 2.0])),
     lambda: (probabilities(5, 2), (rand(5, 2, seed=1) > 0).astype(float))),
    ("BCEWithLogitsLoss", dict(pos_weight=np.array([3.0, 0.5])),
     lambda: (rand(5, 2), (rand(5, 2, seed=1) > 0).astype(float))),
]


@pytest.mark.parametrize("name, kwargs, make", LOSSES,
                         ids=[f"{name}-{'-'.join(kwargs) or 'defaults'}"
                              for name, kwargs, _ in LOSSES])
def test_loss_module_matches_torch(name, kwargs, make):
    ours_kwargs = {k: eg.tensor(v) if isinstance(v, np.ndarray) else v
                   for k, v in kwargs.items()}
    theirs_kwargs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
                     for k, v in kwargs.items()}
    ours, theirs = getattr(nn, name)(**ours_kwargs), getattr(torch.nn, name)(**theirs_kwargs)
    check_module(ours, theirs, *make())


# ---- containers --------------------------------------------------------------------------
def test_module_dict_registers_in_order():
    heads = nn.ModuleDict({"a": nn.Linear(2, 3), "b": nn.Linear(2, 1)})
    heads["c"] = nn.Identity()
    assert list(heads) == ["a", "b", "c"] and len(heads) == 3 and "b" in heads
    assert list(heads.state_dict()) == ["a.weight", "a.bias", "b.weight", "b.bias"]
    theirs = torch.nn.ModuleDict({"a": torch.nn.Linear(2, 3), "b": torch.nn.Linear(2, 1)})
    assert list(heads.state_dict()) == list(theirs.state_dict())
    assert isinstance(heads.pop("c"), nn.Identity) and list(heads.keys()) == ["a", "b"]


# ---- nn.init -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(30, 20), (16, 4, 3, 3), (8, 6, 5)])
def test_fans_and_gains_follow_torch(shape):
    from engine.nn.init import _calculate_fan_in_and_fan_out
    assert _calculate_fan_in_and_fan_out(eg.zeros(*shape)) == \
        torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(*shape))
    for name, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2), ("selu", None),
                        ("sigmoid", None), ("conv2d", None), ("leaky_relu", None)]:
        assert nn.init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


INITS = [
    ("xavier_uniform_", dict(gain=2.0), lambda fi, fo: 2.0 * math.sqrt(2 / (fi + fo)), True),
    ("xavier_normal_", dict(), lambda fi, fo: math.sqrt(2 / (fi + fo)), False),
    ("kaiming_uniform_", dict(nonlinearity="relu"), lambda fi, fo: math.sqrt(2 / fi), True),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu"),
     lambda fi, fo: math.sqrt(2 / fo), False),
    ("lecun_normal_", dict(), lambda fi, fo: math.sqrt(1 / fi), False),
    ("lecun_uniform_", dict(), lambda fi, fo: math.sqrt(1 / fi), True),
]


@pytest.mark.parametrize("name, kwargs, std, uniform", INITS,
                         ids=[f"{name}-{kwargs}" for name, kwargs, _, _ in INITS])
def test_initializer_statistics_and_generator(name, kwargs, std, uniform):
    w = nn.Parameter(eg.zeros(200, 50, 3))
    fan_in, fan_out = 50 * 3, 200 * 3
    getattr(nn.init, name)(w, generator=eg.Generator(0), **kwargs)
    values = w.numpy()
    want = std(fan_in, fan_out)
    assert abs(values.std() / want - 1) < 0.02 and abs(values.mean()) < 0.02 * want
    if uniform:
        assert np.abs(values).max() <= math.sqrt(3) * want
    again = nn.Parameter(eg.zeros(200, 50, 3))
    getattr(nn.init, name)(again, generator=eg.Generator(0), **kwargs)
    np.testing.assert_array_equal(again.numpy(), values)
    assert w.requires_grad and w.grad is None


def test_simple_initializers():
    w = nn.Parameter(eg.zeros(3, 4))
    nn.init.ones_(w)
    assert (w.numpy() == 1).all()
    nn.init.zeros_(w)
    assert (w.numpy() == 0).all()
    nn.init.uniform_(w, -2, -1, generator=eg.Generator(1))
    assert w.numpy().min() >= -2 and w.numpy().max() <= -1
    nn.init.normal_(w, mean=5, std=0.01)
    assert abs(w.numpy().mean() - 5) < 0.05
    nn.init.trunc_normal_(w, std=10, a=-1, b=1)
    assert np.abs(w.numpy()).max() <= 1
    nn.init.orthogonal_(w)
    np.testing.assert_allclose(w.numpy() @ w.numpy().T, np.eye(3), atol=1e-6)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        nn.init.xavier_uniform_(eg.zeros(3))


# ---- nn.utils ----------------------------------------------------------------------------
def grads_pair(seed=0):
    rng = np.random.default_rng(seed)
    values = [rng.standard_normal(s) * 3 for s in [(4, 3), (3,), (2, 2)]]
    ours = [nn.Parameter(eg.zeros(*v.shape, dtype=eg.float64)) for v in values]
    theirs = [torch.nn.Parameter(torch.zeros(v.shape, dtype=torch.float64)) for v in values]
    for p, q, v in zip(ours, theirs, values):
        p.grad, q.grad = eg.tensor(v), torch.tensor(v)
    return ours, theirs


@pytest.mark.parametrize("max_norm, norm_type", [(1.0, 2.0), (100.0, 2.0), (2.0, 1.0),
                                                 (0.5, math.inf), (3.0, 3.0)])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    ours, theirs = grads_pair()
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    np.testing.assert_allclose(total.item(), t_total.item(), rtol=1e-12)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-12)


def test_clip_grad_value_and_max_norm_match_torch():
    ours, theirs = grads_pair()
    nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for p, q in zip(ours, theirs):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy())
    w = nn.Parameter(eg.tensor(rand(5, 4) * 2))
    expected = torch.renorm(torch.tensor(w.numpy()), p=2, dim=0, maxnorm=1.5)
    nn.utils.max_norm_(w, 1.5)
    np.testing.assert_allclose(w.numpy(), expected.numpy(), rtol=1e-12)
    assert np.linalg.norm(w.numpy(), axis=1).max() <= 1.5 + 1e-9


def test_l2_penalty_equals_weight_decay_and_l1_is_sparse_friendly():
    x, y = eg.tensor(rand(16, 4)), eg.tensor(rand(16, 2, seed=1))
    models = []
    for penalty in (True, False):
        eg.manual_seed(0)
        model = nn.Linear(4, 2).to(eg.float64)
        opt = optim.SGD([model.weight], lr=0.1, weight_decay=0 if penalty else 0.2)
        loss = F.mse_loss(model(x), y)
        if penalty:
            loss = loss + nn.utils.l2_penalty(model, 0.1)    # λ Σw², λ = weight_decay / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        models.append(model.weight.numpy())
    np.testing.assert_allclose(models[0], models[1], rtol=1e-12)
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    expected = sum(np.abs(m.weight.numpy()).sum() for m in model)   # weights, not biases
    np.testing.assert_allclose(nn.utils.l1_penalty(model, 0.5).item(), 0.5 * expected,
                               rtol=1e-6)


def test_mc_dropout_predict():
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 3),
                          nn.BatchNorm1d(3))
    model.train()
    x = eg.randn(5, 4)
    mean, std = nn.utils.mc_dropout_predict(model, x, n_samples=20,
                                            transform=lambda y: F.softmax(y, 1))
    assert mean.shape == (5, 3) and std.shape == (5, 3)
    np.testing.assert_allclose(mean.numpy().sum(1), 1.0, rtol=1e-5)
    assert std.numpy().max() > 0                                       # dropout was on
    assert model.training and model[4].training                          # modes restored
    assert model[4].num_batches_tracked.item() == 0                      # BatchNorm was eval
    with pytest.raises(ValueError, match="no Dropout"):
        nn.utils.mc_dropout_predict(nn.Linear(2, 2), eg.randn(1, 2))


def test_freeze_and_reuse_lower_layers():
    base = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    new = nn.Sequential(*list(base)[:-1], nn.Linear(8, 2))         # reuse the lower layers
    nn.utils.freeze(new[0])
    assert new[0] is base[0]
    assert nn.utils.count_parameters(new) == 4 * 8 + 8 + 8 * 2 + 2
    assert nn.utils.count_parameters(new, trainable_only=True) == 8 * 2 + 2
    new(eg.randn(3, 4)).sum().backward()
    assert new[0].weight.grad is None and new[2].weight.grad is not None
    nn.utils.unfreeze(new)
    assert all(p.requires_grad for p in new.parameters())


# ---- summary -----------------------------------------------------------------------------
def test_summary_table(capsys):
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 8), nn.BatchNorm1d(8), nn.ReLU(),
                          nn.Dropout(0.2), nn.Linear(8, 3))
    model.train()
    table = nn.summary(model, (3, 4), batch_size=2)
    assert capsys.readouterr().out.strip() == table.strip()
    lines = table.splitlines()
    assert lines[0].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    rows = [line for line in lines if line.startswith(("0 ", "1 ", "2 ", "5 "))]
    assert "(2, 12)" in rows[0] and rows[1].split()[-1] == "104" and rows[2].split()[-1] == "16"
    assert "Total params: 147" in table and "Non-trainable params: 0" in table
    assert model.training and "forward" not in vars(model[1])          # nothing left behind
    nn.utils.freeze(model[1])
    assert "Trainable params: 43" in nn.summary(model, (3, 4))
