"""eg.save / eg.load: the safetensors format, written and read by the engine itself.

Round trips through the `safetensors` package in both directions, model state_dicts,
and a corpus of malformed files, each rejected with eg.WeightsFormatError naming the
field, before any tensor memory is allocated.
"""
import json
import struct

import numpy as np
import pytest
import torch

import engine as eg
import engine.nn as nn

import safetensors.numpy as safetensors_numpy
import safetensors.torch as safetensors_torch


def sample_tensors():
    rng = np.random.default_rng(0)
    return {
        "fc.weight": eg.tensor(rng.standard_normal((4, 3)).astype(np.float32)),
        "fc.bias": eg.tensor(rng.standard_normal(4).astype(np.float32)),
        "double": eg.tensor(rng.standard_normal((2, 2))),
        "half": eg.tensor(rng.standard_normal(5).astype(np.float16)),
        "count": eg.tensor(7),
        "ids": eg.tensor(np.array([1, -2, 3], dtype=np.int32)),
        "mask": eg.tensor([True, False, True]),
        "scalar": eg.tensor(2.5),
        "empty": eg.zeros(0, 3),
        "transposed": eg.tensor(rng.standard_normal((3, 2)).astype(np.float32)).T,
    }


def assert_same(got, want, ordered=True):
    assert (list(got) if ordered else sorted(got)) == (list(want) if ordered else sorted(want))
    for key in want:
        g, w = got[key], want[key]
        g = g.numpy() if isinstance(g, eg.Tensor) else np.asarray(g)
        w = w.numpy() if isinstance(w, eg.Tensor) else np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, key
        np.testing.assert_array_equal(g, w, err_msg=key)


def test_round_trip(tmp_path):
    tensors = sample_tensors()
    eg.save(tensors, tmp_path / "w.safetensors", metadata={"format": "engine"})
    loaded = eg.load(tmp_path / "w.safetensors")
    assert_same(loaded, tensors)
    assert all(isinstance(t, eg.Tensor) and not t.requires_grad for t in loaded.values())
    loaded["fc.bias"].add_(1.0)           # loaded tensors are writable and independent
    np.testing.assert_array_equal(loaded["fc.bias"].numpy(), tensors["fc.bias"].numpy() + 1)


def test_engine_file_read_by_safetensors(tmp_path):
    tensors = sample_tensors()
    eg.save(tensors, tmp_path / "w.safetensors", metadata={"epoch": "3"})
    assert_same(safetensors_numpy.load_file(tmp_path / "w.safetensors"), tensors, ordered=False)
    from_torch = safetensors_torch.load_file(tmp_path / "w.safetensors")
    for key, value in tensors.items():
        np.testing.assert_array_equal(from_torch[key].numpy(), value.numpy())
    from safetensors import safe_open
    with safe_open(tmp_path / "w.safetensors", framework="numpy") as f:
        assert f.metadata() == {"epoch": "3"}


def test_safetensors_file_read_by_engine(tmp_path):
    rng = np.random.default_rng(1)
    arrays = {"w": rng.standard_normal((3, 5)).astype(np.float32),
              "b": np.arange(4, dtype=np.int64), "h": rng.standard_normal(3).astype(np.float16),
              "flag": np.array([True, False]), "d": rng.standard_normal(2)}
    safetensors_numpy.save_file(arrays, tmp_path / "np.safetensors", metadata={"k": "v"})
    got = eg.load(tmp_path / "np.safetensors")
    assert sorted(got) == sorted(arrays)
    for key in arrays:
        np.testing.assert_array_equal(got[key].numpy(), arrays[key])
        assert got[key].numpy().dtype == arrays[key].dtype
    safetensors_torch.save_file({"x": torch.randn(2, 3, dtype=torch.float64)},
                                tmp_path / "t.safetensors")
    assert eg.load(tmp_path / "t.safetensors")["x"].dtype == eg.float64


def test_model_weights_round_trip_and_torch_interop(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    eg.save(model.state_dict(), tmp_path / "m.safetensors")
    fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    fresh.load_state_dict(eg.load(tmp_path / "m.safetensors"))
    x = eg.randn(5, 4)
    np.testing.assert_array_equal(fresh(x).numpy(), model(x).numpy())
    # The same file loads into the identical torch model.
    twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    twin.load_state_dict(safetensors_torch.load_file(tmp_path / "m.safetensors"))
    np.testing.assert_allclose(twin(torch.from_numpy(x.numpy())).detach().numpy(),
                               model(x).numpy(), rtol=1e-6, atol=1e-6)


def test_load_state_dict_reports_every_problem_at_once(tmp_path):
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3))
    state = dict(model.state_dict())
    del state["1.bias"]
    state["0.weight"] = eg.zeros(8, 5)
    state["extra"] = eg.zeros(1)
    eg.save(state, tmp_path / "bad.safetensors")
    with pytest.raises(RuntimeError) as info:
        nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 3)).load_state_dict(
            eg.load(tmp_path / "bad.safetensors"))
    message = str(info.value)
    assert '"1.bias"' in message and '"extra"' in message
    assert "size mismatch for 0.weight" in message


def test_save_rejects_what_it_cannot_write(tmp_path):
    with pytest.raises(TypeError, match="state_dict"):
        eg.save(nn.Linear(2, 2), tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="not an engine.Tensor"):
        eg.save({"w": np.zeros(2)}, tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="reserved"):
        eg.save({"__metadata__": eg.zeros(1)}, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="str -> str"):
        eg.save({"w": eg.zeros(1)}, tmp_path / "m.safetensors", metadata={"epoch": 3})
    assert not list(tmp_path.iterdir())       # nothing half-written left behind


# ---- the malformed-file corpus ---------------------------------------------------------
def file_bytes(header, data=b"", length=None, raw_header=None):
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(text) if length is None else length
    return struct.pack("<Q", n) + text + data


GOOD = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
DATA8 = bytes(8)


def entry(**changes):
    e = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
    e.update(changes)
    return {"w": {k: v for k, v in e.items() if v is not ...}}


MALFORMED = {
    "empty_file": (b"", "header length"),
    "shorter_than_length_prefix": (b"\x05\x00\x00", "header length"),
    "header_length_beyond_file": (file_bytes(GOOD, DATA8, length=10_000), "runs past the end"),
    "huge_header_length": (struct.pack("<Q", 1 << 60) + b"{}", "exceeds"),
    "not_utf8": (file_bytes(None, raw_header=b'{"w\xff": 1}'), "UTF-8"),
    "not_json": (file_bytes(None, raw_header=b'{"w": {"dtype": "F32",'), "not valid JSON"),
    "json_array": (file_bytes(None, raw_header=b"[1, 2]"), "JSON object"),
    "json_nan": (file_bytes(None, raw_header=b'{"w": {"dtype": "F32", "shape": [NaN], '
                            b'"data_offsets": [0, 8]}}', data=DATA8), "not valid JSON"),
    "deeply_nested": (file_bytes(None, raw_header=b'{"a":' + b"[" * 100_000 + b"]" * 100_000
                                 + b"}"), "header"),
    "duplicate_keys": (file_bytes(None, raw_header=b'{"w": {"dtype": "F32", "shape": [1], '
                                  b'"data_offsets": [0, 4]}, "w": {"dtype": "F32", "shape": '
                                  b'[1], "data_offsets": [4, 8]}}', data=DATA8),
                       "duplicate key 'w'"),
    "entry_not_object": (file_bytes({"w": [1, 2]}), "tensor 'w'"),
    "missing_dtype": (file_bytes(entry(dtype=...), DATA8), "field 'dtype'"),
    "missing_shape": (file_bytes(entry(shape=...), DATA8), "field 'shape'"),
    "missing_offsets": (file_bytes(entry(data_offsets=...), DATA8), "field 'data_offsets'"),
    "unexpected_field": (file_bytes({"w": dict(GOOD["w"], stride=[1])}, DATA8),
                         "field 'stride'"),
    "dtype_not_string": (file_bytes(entry(dtype=32), DATA8), "field 'dtype'"),
    "unknown_dtype": (file_bytes(entry(dtype="F33"), DATA8), "unknown dtype 'F33'"),
    "unsupported_dtype": (file_bytes(entry(dtype="BF16", shape=[4]), DATA8), "'BF16'"),
    "negative_shape": (file_bytes(entry(shape=[-2]), DATA8), "field 'shape'"),
    "float_shape": (file_bytes(entry(shape=[2.0]), DATA8), "field 'shape'"),
    "bool_shape": (file_bytes(entry(shape=[True, True]), DATA8), "field 'shape'"),
    "shape_not_list": (file_bytes(entry(shape="2"), DATA8), "field 'shape'"),
    "overflowing_shape": (file_bytes(entry(shape=[1 << 62, 1 << 62, 16]), DATA8),
                          "field 'shape'"),
    "shape_size_mismatch": (file_bytes(entry(shape=[3]), DATA8), "needs 12 bytes"),
    "offsets_wrong_length": (file_bytes(entry(data_offsets=[0]), DATA8),
                             "field 'data_offsets'"),
    "offsets_not_integers": (file_bytes(entry(data_offsets=["0", "8"]), DATA8),
                             "field 'data_offsets'"),
    "offsets_beyond_buffer": (file_bytes(entry(data_offsets=[0, 8]), bytes(4)),
                              "outside the data buffer"),
    "offsets_reversed": (file_bytes(entry(data_offsets=[8, 0]), DATA8),
                         "outside the data buffer"),
    "offsets_negative": (file_bytes(entry(data_offsets=[-8, 0]), DATA8),
                         "outside the data buffer"),
    "offsets_overlap": (file_bytes({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                    "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}},
                                   bytes(12)), "overlaps"),
    "offsets_gap": (file_bytes({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}},
                               bytes(12)), "unused"),
    "trailing_bytes": (file_bytes(GOOD, bytes(12)), "trailing bytes"),
    "metadata_not_strings": (file_bytes({"__metadata__": {"epoch": 3}, **GOOD}, DATA8),
                             "field '__metadata__'"),
    "bool_data_not_0_or_1": (file_bytes({"m": {"dtype": "BOOL", "shape": [2],
                                               "data_offsets": [0, 2]}}, b"\x01\x02"), "BOOL"),
}


def test_corpus_is_large_enough():
    assert len(MALFORMED) >= 20


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_file_is_rejected(name, tmp_path, monkeypatch):
    content, field = MALFORMED[name]
    path = tmp_path / f"{name}.safetensors"
    path.write_bytes(content)
    allocations = []
    real_empty = np.empty
    if name != "bool_data_not_0_or_1":       # that one is only detectable in the data
        monkeypatch.setattr(np, "empty", lambda *a, **k: allocations.append(a) or
                            real_empty(*a, **k))
    with pytest.raises(eg.WeightsFormatError) as info:
        eg.load(path)
    message = str(info.value)
    assert str(path) in message, message
    assert field in message, f"{field!r} not in {message!r}"
    assert not allocations, "a tensor was allocated from an invalid header"


def test_valid_corpus_base_loads(tmp_path):
    """The corpus's starting point is a valid file: each case breaks one thing."""
    path = tmp_path / "good.safetensors"
    path.write_bytes(file_bytes(GOOD, DATA8))
    np.testing.assert_array_equal(eg.load(path)["w"].numpy(), [0.0, 0.0])
    path.write_bytes(file_bytes({"__metadata__": {"a": "b"}, **GOOD}, DATA8))
    assert list(eg.load(path)) == ["w"]
    assert issubclass(eg.WeightsFormatError, ValueError)
