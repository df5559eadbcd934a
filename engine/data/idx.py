"""read_idx: the IDX format (LeCun's MNIST files; Fashion-MNIST uses it too), checked.

    bytes 0-1   zero
    byte 2      element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                0x0D float32, 0x0E float64 (big-endian on disk)
    byte 3      number of dimensions d
    4d bytes    each dimension's size, big-endian uint32
    the rest    the elements, C order

Files may be gzipped (detected by their magic bytes, not their name). The element
count implied by the header must match the bytes that follow exactly: a truncated
or padded file is an error, and a gzipped file is only decompressed as far as the
header says (one byte more, to detect trailing data).
"""
import gzip
import os
import struct

import numpy as np

_TYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
MAX_ELEMENTS = 1 << 31


class IDXFormatError(ValueError):
    """An IDX file's header or size is wrong; the message names the file and field."""


def read_idx(path):
    """The array stored in the IDX file at `path` (gzipped or not), native byte order."""
    path = os.fspath(path)
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    try:
        with opener(path, "rb") as f:
            return _read(f, path)
    except (OSError, EOFError) as error:         # a corrupt gzip stream
        raise IDXFormatError(f"{path}: cannot decompress ({error})") from None


def _read(f, path):
    magic = f.read(4)
    if len(magic) < 4:
        raise IDXFormatError(f"{path}: magic number: file has {len(magic)} bytes, fewer "
                             f"than 4")
    if magic[0] != 0 or magic[1] != 0 or magic[2] not in _TYPES:
        raise IDXFormatError(f"{path}: magic number: 0x{magic.hex()} is not an IDX header "
                             f"(expected 0x0000TTDD with a known type TT)")
    dtype, ndim = _TYPES[magic[2]], magic[3]
    if ndim == 0:
        raise IDXFormatError(f"{path}: magic number: 0 dimensions")
    dims_bytes = f.read(4 * ndim)
    if len(dims_bytes) < 4 * ndim:
        raise IDXFormatError(f"{path}: dimensions: the header promises {ndim} sizes but the "
                             f"file ends first")
    shape = struct.unpack(f">{ndim}I", dims_bytes)
    count = 1
    for n in shape:
        count *= n
    if count > MAX_ELEMENTS:
        raise IDXFormatError(f"{path}: dimensions: {shape} is {count} elements, more than "
                             f"the {MAX_ELEMENTS} this reader accepts")
    nbytes = count * dtype.itemsize
    data = f.read(nbytes)
    if len(data) != nbytes:
        raise IDXFormatError(f"{path}: data: dimensions {shape} need {nbytes} bytes, the "
                             f"file has {len(data)}")
    if f.read(1):
        raise IDXFormatError(f"{path}: data: trailing bytes after the {nbytes} bytes that "
                             f"dimensions {shape} describe")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=False) if dtype.itemsize > 1 \
        else array.copy()
