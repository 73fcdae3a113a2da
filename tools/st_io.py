"""Minimal safetensors reader/writer (stdlib + numpy; torch optional).

Layout written (the format the C++ engine reads, see engine weight-file docs):
  8 bytes   little-endian uint64 N = length of the JSON header
  N bytes   JSON header, UTF-8, padded with ASCII spaces so that 8 + N is a multiple of 8:
              {"__metadata__": {str: str, ...},
               "<tensor name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
  data      raw little-endian row-major tensor bytes; offsets are relative to the start of
            the data section. Tensors are stored in sorted name order, back to back.

Deliberately independent of the `safetensors` pip package.
"""
import json
import struct

import numpy as np

# safetensors dtype string <-> numpy dtype (little-endian). BF16 has no numpy type: it is
# carried as raw uint16 bit patterns (np.uint16 arrays tagged via BF16Array below).
_NP_OF = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class BF16Array:
    """Wraps a uint16 numpy array holding bfloat16 bit patterns."""

    def __init__(self, bits):
        self.bits = np.asarray(bits, dtype="<u2", order="C")  # (ascontiguousarray would turn 0-d into 1-d)
        self.shape = self.bits.shape

    def to_float32(self):
        return (self.bits.astype("<u4") << 16).view("<f4")


def _to_numpy(t):
    """torch.Tensor / numpy array / BF16Array -> (dtype string, contiguous LE numpy array)."""
    if isinstance(t, BF16Array):
        return "BF16", t.bits
    try:  # torch is optional
        import torch

        if isinstance(t, torch.Tensor):
            t = t.detach().cpu().contiguous()
            if t.dtype == torch.bfloat16:
                return "BF16", t.view(torch.int16).numpy().view("<u2")
            t = t.numpy()
    except ImportError:
        pass
    a = np.asarray(t)
    dt = a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype
    for name, ndt in _NP_OF.items():
        if ndt.kind == dt.kind and ndt.itemsize == dt.itemsize:
            return name, np.asarray(a, dtype=ndt, order="C")
    raise TypeError(f"unsupported dtype for safetensors: {a.dtype}")


def encode(tensors, metadata=None):
    """Returns the bytes of a safetensors file. tensors: {name: array-like}; metadata: {str: str}."""
    header = {}
    if metadata:
        bad = {k: type(v).__name__ for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise TypeError(f"safetensors metadata must be str -> str; offending entries: {bad}")
        header["__metadata__"] = dict(sorted(metadata.items()))
    chunks = []
    off = 0
    for name in sorted(tensors):
        if name == "__metadata__":
            raise ValueError("tensor name '__metadata__' is reserved")
        dt, arr = _to_numpy(tensors[name])
        raw = arr.tobytes(order="C")
        header[name] = {"dtype": dt, "shape": [int(s) for s in arr.shape], "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("utf-8")
    hj += b" " * ((-(8 + len(hj))) % 8)
    return struct.pack("<Q", len(hj)) + hj + b"".join(chunks)


def save(path, tensors, metadata=None):
    data = encode(tensors, metadata)
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def load(path, as_torch=False):
    """Returns (tensors {name: numpy array (BF16Array for BF16) or torch tensor}, metadata dict)."""
    with open(path, "rb") as f:
        buf = f.read()
    if len(buf) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > len(buf) - 8:
        raise ValueError(f"{path}: header length {n} exceeds file size")
    header = json.loads(buf[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = buf[base + b : base + e]
        if info["dtype"] == "BF16":
            arr = BF16Array(np.frombuffer(raw, dtype="<u2").reshape(shape))
        else:
            arr = np.frombuffer(raw, dtype=_NP_OF[info["dtype"]]).reshape(shape).copy()
        if as_torch:
            import torch

            if isinstance(arr, BF16Array):
                arr = torch.from_numpy(arr.bits.astype(np.int16)).view(torch.bfloat16)
            else:
                arr = torch.from_numpy(arr)
        out[name] = arr
    return out, meta
