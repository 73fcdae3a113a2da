#!/usr/bin/env python3
"""Self-test of the Python tools (run: /usr/bin/python3 tools/test_tools.py; ~30 s, one thread).

Checks the safetensors writer/reader, the reference models (against torchvision), the converter on
synthetic checkpoints (wrappers, prefixes, legacy and zip torch.save formats, error exits) and that
the committed goldens reproduce from their metadata.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import convert_torch  # noqa: E402
import make_goldens  # noqa: E402
import pt_models  # noqa: E402
import st_io  # noqa: E402


def test_st_io(tmp):
    t = {"b": np.arange(6, dtype=np.float32).reshape(2, 3), "a": np.array([1, -2], dtype=np.int64),
         "h": np.array([0.5, 1.5], dtype=np.float16), "bf": torch.tensor([1.0, -2.5], dtype=torch.bfloat16),
         "u": np.array([0, 255], dtype=np.uint8), "s": np.float64(3.0)}
    p = os.path.join(tmp, "x.safetensors")
    st_io.save(p, t, {"k": "v"})
    raw = open(p, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert (8 + n) % 8 == 0 and raw[8 + n - 1 : 8 + n] in (b" ", b"}")
    hdr = json.loads(raw[8 : 8 + n])
    names = [k for k in hdr if k != "__metadata__"]
    offs = [hdr[k]["data_offsets"] for k in names]
    assert sorted(names) == [k for _, k in sorted(zip([o[0] for o in offs], names))], "tensors not in sorted order"
    assert hdr["bf"]["dtype"] == "BF16" and hdr["s"]["shape"] == []
    back, meta = st_io.load(p)
    assert meta == {"k": "v"}
    for k in ("a", "b", "h", "u"):
        assert back[k].dtype == t[k].dtype and np.array_equal(back[k], t[k]), k
    assert np.array_equal(back["bf"].to_float32(), np.array([1.0, -2.5], dtype=np.float32))
    bt, _ = st_io.load(p, as_torch=True)
    assert bt["bf"].dtype == torch.bfloat16 and torch.equal(bt["bf"], t["bf"])
    try:
        st_io.save(p, t, {"k": 1})
        raise AssertionError("non-string metadata accepted")
    except TypeError:
        pass


def run_convert(*args):
    r = subprocess.run([sys.executable, os.path.join(HERE, "convert_torch.py"), *args], capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr


def test_convert(tmp):
    torch.manual_seed(0)
    m = pt_models.CifarResNet(32, width=8, num_classes=4)
    sd = {"module." + k: v for k, v in m.state_dict().items()}
    legacy = os.path.join(tmp, "legacy.th")
    torch.save({"state_dict": sd, "best_prec1": 1.5}, legacy, _use_new_zipfile_serialization=False)
    zipf = os.path.join(tmp, "zip.pt")
    torch.save({"model": m.state_dict()}, zipf)
    for src in (legacy, zipf):
        out = os.path.join(tmp, "o.safetensors")
        rc, msg = run_convert(src, out, "--classes", "a,b,c,d")
        assert rc == 0, msg
        t, meta = st_io.load(out)
        assert meta["arch"] == "cifar_resnet32" and meta["width"] == "8" and meta["num_classes"] == "4", meta
        assert meta["classes"] == "a,b,c,d" and meta["source"] == os.path.basename(src)
        assert not any(k.endswith("num_batches_tracked") or k.startswith("module.") for k in t)
        for k, v in m.state_dict().items():
            if not k.endswith("num_batches_tracked"):
                assert np.array_equal(t[k], v.numpy()), k
    assert json.loads(st_io.load(out)[1]["config"])["depth"] == 32
    # errors: exit code 2 and the file named
    bad = os.path.join(tmp, "bad.th")
    open(bad, "w").write("not a checkpoint")
    other = os.path.join(tmp, "other.pt")
    torch.save({"w": torch.zeros(2)}, other)
    for args in ([os.path.join(tmp, "missing.th"), out], [bad, out], [other, out],
                 [legacy, out, "--arch", "cifar_resnet20"], [legacy, out, "--classes", "a,b"], [legacy, os.path.join(tmp, "o.bin")]):
        rc, msg = run_convert(*args)
        assert rc == 2 and os.path.basename(args[0] if args[1] != os.path.join(tmp, "o.bin") else args[1]) in msg, (args, rc, msg)
    # torchvision ResNet-50 / ViT inference (no write needed)
    import torchvision

    for fn, arch in ((torchvision.models.resnet18, "resnet18"), (torchvision.models.resnet50, "resnet50")):
        sd = convert_torch.clean_state_dict(fn(num_classes=3).state_dict())
        cfg = convert_torch.infer_config(sd)
        assert cfg["arch"] == arch and cfg["num_classes"] == 3, cfg
    v = pt_models.ViT(64, 16, 384, 2, 6, 1536, 7)
    cfg = convert_torch.infer_config(convert_torch.clean_state_dict(v.state_dict()))
    assert (cfg["family"], cfg["heads"], cfg["depth"], cfg["image_size"], cfg["patch_size"]) == ("vit", 6, 2, 64, 16), cfg


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_st_io(tmp)
        print("st_io ok")
        pt_models._selftest()
        test_convert(tmp)
        print("convert_torch ok")
    names = list(make_goldens.GOLDENS)
    assert all(make_goldens.verify_one(n, os.path.join(os.path.dirname(HERE), "tests", "goldens")) for n in names)
    print("all ok")


if __name__ == "__main__":
    main()
