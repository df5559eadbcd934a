"""eg.save / eg.load: tensors to and from the safetensors format, without pickle.

A safetensors file is three parts (https://github.com/huggingface/safetensors):

    8 bytes    N, the header's length, unsigned little-endian
    N bytes    a JSON object, UTF-8, padded with spaces:
               {"__metadata__": {str: str},                          (optional)
                "fc.weight": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]},
                ...}
    the rest   the data buffer: each tensor's bytes, C order, little-endian, at its
               [begin, end) offsets counted from the buffer's start

Loading never trusts the file. The header length is checked against the file size
(and a 100 MB cap) before the header is read; the JSON is checked field by field —
dtype known, shape a list of non-negative integers, offsets inside the buffer, each
tensor's byte count equal to prod(shape) * itemsize, the tensors tiling the buffer
exactly (no overlap, no gap, no trailing bytes), no duplicate key — before any
tensor memory is allocated. Every failure raises WeightsFormatError naming the file,
the tensor and the field. Nothing here can execute code from a file (pickle could).
"""
import json
import math
import os
import struct

import numpy as np

from engine.creation import from_numpy
from engine.errors import WeightsFormatError
from engine.tensor import Tensor

__all__ = ["load", "save"]

# safetensors' own limit on the header (the reference implementation's MAX_HEADER_SIZE).
MAX_HEADER_BYTES = 100_000_000

# safetensors dtype names <-> engine (numpy) dtypes. Other safetensors dtypes (BF16, U8,
# F8_*, ...) are valid files the engine cannot hold: load names them in its error.
_DTYPES = {"F16": "float16", "F32": "float32", "F64": "float64", "I32": "int32",
           "I64": "int64", "BOOL": "bool"}
_TO_NUMPY = {k: np.dtype(v).newbyteorder("<") for k, v in _DTYPES.items()}
_NAME_OF = {v: k for k, v in _DTYPES.items()}
_OTHER_SAFETENSORS_DTYPES = {"BF16", "U8", "I8", "U16", "I16", "U32", "U64", "F8_E4M3",
                             "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"}
_FIELDS = {"dtype", "shape", "data_offsets"}


# ---- save ----------------------------------------------------------------------------
def save(tensors, path, metadata=None):
    """Write a dict of name -> Tensor (e.g. `model.state_dict()`) to `path` as
    safetensors. `metadata`: an optional dict of str -> str stored in the header.

    Tensors are written C-contiguous and little-endian, larger itemsizes first so that
    every tensor starts aligned; the header keeps the dict's key order. The file is
    written to a temporary name and renamed, so a crash never leaves half a file.
    """
    if hasattr(tensors, "state_dict") and not isinstance(tensors, dict):
        raise TypeError("save: expected a dict of name -> Tensor, got a "
                        f"{type(tensors).__name__}. Hint: pass model.state_dict()")
    if not isinstance(tensors, dict):
        raise TypeError(f"save: expected a dict of name -> Tensor, got "
                        f"{type(tensors).__name__}")
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"save: tensor names must be strings, got {name!r}")
        if name == "__metadata__":
            raise ValueError("save: '__metadata__' is reserved for the header's metadata. "
                             "Hint: pass metadata= instead")
        if not isinstance(value, Tensor):
            raise TypeError(f"save: '{name}' is a {type(value).__name__}, not an "
                            f"engine.Tensor. Hint: wrap arrays with engine.from_numpy")
        array = value.numpy()
        if not array.flags.c_contiguous:            # (ascontiguousarray makes 0-d 1-d)
            array = np.ascontiguousarray(array)
        if array.dtype.name not in _NAME_OF:
            raise TypeError(f"save: '{name}' has dtype {array.dtype}, which has no "
                            f"safetensors name here")
        arrays[name] = array.astype(_TO_NUMPY[_NAME_OF[array.dtype.name]], copy=False)
    header = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("save: metadata must be a dict of str -> str")
        header["__metadata__"] = dict(metadata)
    # Data order: widest items first (then the caller's order), so every offset is a
    # multiple of the tensor's itemsize once the header is padded to 8 bytes.
    order = sorted(arrays, key=lambda n: -arrays[n].dtype.itemsize)
    offsets, position = {}, 0
    for name in order:
        offsets[name] = (position, position + arrays[name].nbytes)
        position += arrays[name].nbytes
    for name, array in arrays.items():
        header[name] = {"dtype": _NAME_OF[array.dtype.name], "shape": list(array.shape),
                        "data_offsets": list(offsets[name])}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path = os.fspath(path)
    temporary = f"{path}.tmp{os.getpid()}"
    try:
        with open(temporary, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for name in order:
                f.write(arrays[name].reshape(-1).view(np.uint8))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


# ---- load ----------------------------------------------------------------------------
def load(path, device="cpu"):
    """Read a safetensors file into a dict of name -> Tensor (header order).

    Raises WeightsFormatError, naming the field, for any malformed file.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        file_size = f.tell()
        f.seek(0)
        entries, data_start = _read_header(f, file_size, path)
        out = {}
        for name, (dtype, shape, begin, end) in entries.items():
            array = np.empty(shape, dtype=dtype)          # sizes validated above
            f.seek(data_start + begin)
            if f.readinto(array.reshape(-1).view(np.uint8)) != end - begin:
                raise WeightsFormatError(f"{path}: tensor '{name}': the file ended while "
                                         f"reading its data (it changed while being read?)")
            if dtype == np.bool_ and array.size and array.view(np.uint8).max() > 1:
                raise WeightsFormatError(f"{path}: tensor '{name}': field 'dtype' is BOOL "
                                         f"but the data holds bytes other than 0 and 1")
            out[name] = from_numpy(array.astype(array.dtype.newbyteorder("="), copy=False))
    if device != "cpu":
        out = {k: v.to(device) for k, v in out.items()}
    return out


def _fail(path, where, problem):
    return WeightsFormatError(f"{path}: {where}: {problem}")


def _no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(k for k in keys if keys.count(k) > 1)
        raise _DuplicateKey(duplicate)
    return dict(pairs)


class _DuplicateKey(Exception):
    pass


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _read_header(f, file_size, path):
    """Validate the length prefix and the header; return ({name: (dtype, shape, begin,
    end)}, data_start). Reads at most the header's bytes."""
    if file_size < 8:
        raise _fail(path, "header length", f"the file has {file_size} bytes, fewer than the "
                    f"8-byte header length")
    (n,) = struct.unpack("<Q", f.read(8))
    if n > MAX_HEADER_BYTES:
        raise _fail(path, "header length", f"{n} bytes exceeds the {MAX_HEADER_BYTES}-byte "
                    f"limit")
    if 8 + n > file_size:
        raise _fail(path, "header length", f"{n} bytes runs past the end of the file "
                    f"({file_size} bytes)")
    raw = f.read(n)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _fail(path, "header", f"not valid UTF-8 ({error.reason} at byte "
                    f"{error.start})") from None
    if not text.lstrip(" ").startswith("{"):
        raise _fail(path, "header", "must be a JSON object starting with '{'")
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates,
                            parse_constant=_reject_constant)
    except _DuplicateKey as error:
        raise _fail(path, "header", f"duplicate key '{error.args[0]}'") from None
    except (ValueError, RecursionError) as error:
        raise _fail(path, "header", f"not valid JSON ({error})") from None
    if not isinstance(header, dict):
        raise _fail(path, "header", f"expected a JSON object, got {type(header).__name__}")

    data_size = file_size - 8 - n
    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (isinstance(metadata, dict) and all(
            isinstance(v, str) for v in metadata.values())):
        raise _fail(path, "field '__metadata__'", "must be an object of string values")
    entries = {}
    for name, info in header.items():
        where = f"tensor '{name}'"
        if not isinstance(info, dict):
            raise _fail(path, where, f"expected an object with dtype, shape and data_offsets, "
                        f"got {type(info).__name__}")
        missing = sorted(_FIELDS - set(info))
        if missing:
            raise _fail(path, f"{where}: field '{missing[0]}'", "missing")
        extra = sorted(set(info) - _FIELDS)
        if extra:
            raise _fail(path, f"{where}: field '{extra[0]}'", "unexpected field")
        dtype = info["dtype"]
        if not isinstance(dtype, str):
            raise _fail(path, f"{where}: field 'dtype'", f"expected a string, got {dtype!r}")
        if dtype not in _TO_NUMPY:
            known = "a safetensors dtype the engine has no type for" \
                if dtype in _OTHER_SAFETENSORS_DTYPES else "unknown dtype"
            raise _fail(path, f"{where}: field 'dtype'", f"{known} {dtype!r} (the engine reads "
                        f"{', '.join(_TO_NUMPY)})")
        shape = info["shape"]
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _fail(path, f"{where}: field 'shape'", f"expected a list of non-negative "
                        f"integers, got {shape!r}"[:300])
        offsets = info["data_offsets"]
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(_is_int(v) for v in offsets)):
            raise _fail(path, f"{where}: field 'data_offsets'", f"expected [begin, end] "
                        f"integers, got {offsets!r}"[:300])
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            raise _fail(path, f"{where}: field 'data_offsets'", f"[{begin}, {end}] is outside "
                        f"the data buffer [0, {data_size}]")
        itemsize = _TO_NUMPY[dtype].itemsize
        # Python integers do not overflow: a shape whose product is astronomically large
        # simply fails this comparison.
        if math.prod(shape) * itemsize != end - begin:
            raise _fail(path, f"{where}: field 'shape'", f"{shape} of {dtype} needs "
                        f"{math.prod(shape) * itemsize} bytes but data_offsets span "
                        f"{end - begin}"[:300])
        entries[name] = (_TO_NUMPY[dtype], tuple(shape), begin, end)

    # The tensors must tile the buffer: sorted by offsets, each starts where the last
    # ended, and the last ends at the end of the file.
    position, previous = 0, None
    for name, (_, _, begin, end) in sorted(entries.items(), key=lambda e: (e[1][2], e[1][3])):
        if begin < position:
            raise _fail(path, f"tensor '{name}': field 'data_offsets'", f"[{begin}, {end}] "
                        f"overlaps tensor '{previous}' (which ends at {position})")
        if begin > position:
            raise _fail(path, f"tensor '{name}': field 'data_offsets'", f"starts at {begin}, "
                        f"leaving bytes [{position}, {begin}) of the buffer unused")
        position, previous = end, name
    if position != data_size:
        raise _fail(path, "data buffer", f"{data_size - position} trailing bytes after the "
                    f"last tensor (the buffer is {data_size} bytes, tensors end at {position})")
    return entries, 8 + n
