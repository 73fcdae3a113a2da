#!/usr/bin/env python3
"""Manual interop check of the engine's weight files against the Python `safetensors` package
(and h5py for .h5), with numpy. Needs: pip install safetensors numpy h5py

  # 1. files written by the engine, read here:
  PLEAS_INTEROP_DIR=/tmp/interop ./build/tests/test_weights --gtest_filter='WeightsInterop.*'
  python3 tools/check_safetensors_interop.py check /tmp/interop/engine.safetensors /tmp/interop/engine.h5

  # 2. files written here, read by the engine (the committed fixtures under tests/data/weights/,
  #    which tests/weights.cpp reads in WeightsInterop.ReadsPythonWrittenFixtures):
  python3 tools/check_safetensors_interop.py fixture tests/data/weights

The engine-side pattern (tests/weights.cpp, interop_pattern()) is: element i of a tensor, in
row-major order, is (i % 7) - 3 + 0.25 * (i % 2) for float dtypes, (i % 7) - 3 for signed
integers and i % 251 for u8.
"""
import json
import struct
import sys

import numpy as np

# name -> (safetensors dtype, shape), as written by the engine's interop test.
ENGINE_TENSORS = {
    "f32.w": ("F32", (3, 4)),
    "f64.s": ("F64", ()),
    "f16.h": ("F16", (2, 5)),
    "bf16.b": ("BF16", (7,)),
    "i32.i": ("I32", (2, 2, 2)),
    "i64.l": ("I64", (5,)),
    "u8.u": ("U8", (300,)),
    "block.0/empty": ("F32", (0, 4)),
}
ENGINE_METADATA = {"producer": "pleas", "note": "\u00fcn\u00efcode \u2713"}
NP = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I32": np.int32,
      "I64": np.int64, "U8": np.uint8}


def pattern(dtype, shape):
    i = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    if dtype in ("F32", "F64", "F16", "BF16"):
        v = (i % 7) - 3 + 0.25 * (i % 2)
    elif dtype == "U8":
        v = i % 251
    else:
        v = (i % 7) - 3
    return v.astype(np.float64).reshape(shape)


def read_bf16_raw(path, name):
    """numpy has no bfloat16: decode it from the raw bytes per the spec."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        begin, end = header[name]["data_offsets"]
        f.seek(8 + n + begin)
        raw = np.frombuffer(f.read(end - begin), dtype="<u2").astype(np.uint32) << 16
    return raw.view(np.float32).reshape(header[name]["shape"])


def check_safetensors(path):
    from safetensors import safe_open
    ok = True
    with safe_open(path, framework="np") as f:
        meta = f.metadata() or {}
        if meta != ENGINE_METADATA:
            print(f"FAIL {path}: metadata {meta} != {ENGINE_METADATA}"); ok = False
        keys = set(f.keys())
        if keys != set(ENGINE_TENSORS):
            print(f"FAIL {path}: names {sorted(keys)}"); ok = False
        for name, (dt, shape) in ENGINE_TENSORS.items():
            if name not in keys:
                continue
            a = read_bf16_raw(path, name) if dt == "BF16" else f.get_tensor(name)
            if dt != "BF16" and a.dtype != NP[dt]:
                print(f"FAIL {path}: {name} dtype {a.dtype} != {dt}"); ok = False
            if tuple(a.shape) != shape or not np.array_equal(a.astype(np.float64), pattern(dt, shape)):
                print(f"FAIL {path}: {name} shape {a.shape} or values differ"); ok = False
    return ok


def check_h5(path):
    import h5py
    ok = True
    with h5py.File(path, "r") as f:
        meta = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}
        if meta != ENGINE_METADATA:
            print(f"FAIL {path}: metadata {meta}"); ok = False
        for name, (dt, shape) in ENGINE_TENSORS.items():
            d = f[name]
            # h5py reads the custom bf16 type as float16 (HDF5 converts): compare as float32.
            a = d[()].astype(np.float64) if dt != "BF16" else d.astype(np.float32)[()].astype(np.float64)
            if dt not in ("BF16",) and d.dtype != NP[dt]:
                print(f"FAIL {path}: {name} dtype {d.dtype} != {dt}"); ok = False
            if tuple(d.shape) != shape or not np.array_equal(np.asarray(a).reshape(shape), pattern(dt, shape)):
                print(f"FAIL {path}: {name} shape {d.shape} or values differ"); ok = False
    return ok


def write_fixtures(out_dir):
    """Small files written by the reference libraries, read by WeightsInterop in tests/weights.cpp."""
    from safetensors.numpy import save_file
    tensors = {
        "conv1.weight": (np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2) * 0.5 - 3),
        "bn1.running_var": np.array([1.5, -2.0, 0.25], dtype=np.float16),
        "bn1.num_batches_tracked": np.array(7, dtype=np.int64),
        "idx": np.array([[-1, 2], [3, -4]], dtype=np.int32),
        "mask": np.array([0, 1, 255], dtype=np.uint8),
        "scale": np.array([2.5], dtype=np.float64),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    meta = {"format": "pt", "source": "python safetensors"}
    save_file(tensors, f"{out_dir}/python_fixture.safetensors", metadata=meta)
    import h5py
    with h5py.File(f"{out_dir}/python_fixture.h5", "w") as f:
        for k, v in tensors.items():
            f.create_dataset(k, data=v)
        f["group/nested"] = np.array([1.0, 2.0], dtype=np.float32)
        for k, v in meta.items():
            f.attrs[k] = v
    print(f"wrote {out_dir}/python_fixture.safetensors and {out_dir}/python_fixture.h5")


def main(argv):
    if len(argv) >= 3 and argv[1] == "fixture":
        write_fixtures(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "check":
        ok = True
        for p in argv[2:]:
            good = check_h5(p) if p.endswith((".h5", ".hdf5")) else check_safetensors(p)
            print(("OK   " if good else "FAIL ") + p)
            ok &= good
        return 0 if ok else 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
