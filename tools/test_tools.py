#!/usr/bin/env python3
"""Self-test of the Python tools (run: /usr/bin/python3 tools/test_tools.py; ~30 s, one thread).

Checks the safetensors writer/reader, the reference models (against torchvision), the converter on
synthetic checkpoints (wrappers, prefixes, legacy and zip torch.save formats, the tintn ViT layout,
error exits), the tintn reference against the zoo's two ViTs when ../shared is there, and that the
committed goldens reproduce from their metadata.
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


def _tintn_checkpoint(tmp, name, depth=3, dim=24, heads=4, classes=10, drop_block=None, edit=None):
    """A random tintn-layout checkpoint (plain state dict, zip format). Returns (path, model)."""
    torch.manual_seed(depth * 100 + dim)
    m = pt_models.TintnViT(32, 8, dim, depth, heads, 2 * dim, classes).eval()
    with torch.no_grad():
        for p_ in m.parameters():
            p_.normal_(0, 0.3)
    sd = m.state_dict()
    if drop_block is not None:
        sd = {k: v for k, v in sd.items() if not k.startswith(f"encoder.blocks.{drop_block}.")}
    if edit:
        edit(sd)
    path = os.path.join(tmp, name)
    torch.save(sd, path)
    return path, m


def test_convert_tintn(tmp):
    src, ref = _tintn_checkpoint(tmp, "tintn.pt")
    out = os.path.join(tmp, "tintn.safetensors")
    rc, msg = run_convert(src, out, "--heads", "4")
    assert rc == 0, msg
    t, meta = st_io.load(out, as_torch=True)
    assert sorted(t) == sorted(pt_models.tintn_to_timm(ref.state_dict())), sorted(t)
    assert "patch_embed.proj.weight" in t and "head.weight" in t and "blocks.2.attn.qkv.weight" in t
    assert not any(k.startswith("norm.") for k in t)
    want = {"arch": "vit", "family": "vit", "act": "gelu_tanh", "final_norm": "none", "num_heads": "4", "heads": "4",
            "ln_eps": "1e-05", "input_mean": "0.5,0.5,0.5", "input_std": "0.5,0.5,0.5", "dim": "24", "depth": "3",
            "patch_size": "8", "image_size": "32", "mlp_dim": "48", "classes": ",".join(convert_torch.CIFAR10_CLASSES)}
    assert {k: meta.get(k) for k in want} == want, meta
    for k, v in pt_models.tintn_to_timm(ref.state_dict()).items():
        assert torch.equal(t[k], v), k
    # the converted file, through load_model (TintnViT) and through the timm-named ViT, = the original
    x = torch.randn(3, 3, 32, 32)
    model, cfg, _ = pt_models.load_model(out)
    assert isinstance(model, pt_models.TintnViT)
    timm = pt_models.build_model(cfg)
    timm.load_state_dict(t, strict=True)
    with torch.no_grad():
        y = ref(x)
        assert torch.equal(model(x), y)
        assert (timm(x) - y).abs().max().item() < 1e-5
    # --config (the tutorial's config keys), --classes, --mean
    conf = os.path.join(tmp, "config.json")
    json.dump({"hidden_size": 24, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 48,
               "image_size": 32, "patch_size": 8, "num_classes": 10, "num_channels": 3, "qkv_bias": True}, open(conf, "w"))
    rc, msg = run_convert(src, out, "--config", conf, "--classes", "a,b,c,d,e,f,g,h,i,j", "--mean", "0.1,0.2,0.3")
    assert rc == 0, msg
    meta = st_io.load(out)[1]
    assert (meta["num_heads"], meta["classes"], meta["input_mean"], meta["input_std"]) == ("2", "a,b,c,d,e,f,g,h,i,j", "0.1,0.2,0.3", "0.5,0.5,0.5"), meta
    # errors: exit 2, the checkpoint named, the problem said
    badconf = os.path.join(tmp, "badconf.json")
    json.dump({"hidden_size": 32, "num_attention_heads": 4}, open(badconf, "w"))
    gap, _ = _tintn_checkpoint(tmp, "gap.pt", drop_block=1)
    wrong_qkv, _ = _tintn_checkpoint(tmp, "qkv.pt", edit=lambda sd: sd.__setitem__(
        "encoder.blocks.0.attention.qkv_projection.weight", torch.zeros(48, 24)))
    no_cls, _ = _tintn_checkpoint(tmp, "nocls.pt", edit=lambda sd: sd.pop("embedding.cls_token"))
    extra, _ = _tintn_checkpoint(tmp, "extra.pt", edit=lambda sd: sd.__setitem__("encoder.blocks.0.mlp.extra", torch.zeros(2)))
    cases = [
        ([src, out], ["number of attention heads", "--heads", "--config"]),
        ([src, out, "--heads", "5"], ["5 attention heads do not divide the hidden size 24"]),
        ([src, out, "--heads", "3", "--config", conf], ["--heads 3 disagrees with num_attention_heads = 2"]),
        ([src, out, "--config", badconf], ["hidden_size = 32", "dim = 24"]),
        ([src, out, "--config", os.path.join(tmp, "nope.json")], ["--config " + os.path.join(tmp, "nope.json") + ": no such file"]),
        ([src, out, "--heads", "4", "--classes", "a,b"], ["--classes lists 2 names"]),
        ([gap, out, "--heads", "4"], ["block encoder.blocks.1 is missing", "blocks present: 0, 2"]),
        ([wrong_qkv, out, "--heads", "4"], ["encoder.blocks.0.attention.qkv_projection.weight has shape [48, 24], expected [72, 24]"]),
        ([no_cls, out, "--heads", "4"], ["embedding.cls_token is missing"]),
        ([extra, out, "--heads", "4"], ["unexpected (1): encoder.blocks.0.mlp.extra"]),
        ([legacy_resnet(tmp), out, "--config", conf], ["is for ViT checkpoints"]),
    ]
    for args, needles in cases:
        rc, msg = run_convert(*args)
        assert rc == 2, (args, rc, msg)
        assert msg.startswith("convert_torch.py: error: ") and os.path.basename(args[0]) in msg, (args, msg)
        for n in needles:
            assert n in msg, (args, n, msg)
    # timm layout: a gap in the blocks is named too
    v = pt_models.ViT(32, 8, 64, 3, 4, 128, 10)
    sd = {k: x for k, x in convert_torch.clean_state_dict(v.state_dict()).items() if not k.startswith("blocks.1.")}
    try:
        convert_torch.infer_config(sd)
        raise AssertionError("gap accepted")
    except convert_torch.ConvertError as e:
        assert "block blocks.1 is missing" in str(e), e


def legacy_resnet(tmp):
    path = os.path.join(tmp, "r8.th")
    if not os.path.exists(path):
        torch.save(pt_models.CifarResNet(8, 8, 4).state_dict(), path)
    return path


def test_zoo_vits():
    """The tintn reference against the zoo's two ViTs: the original state dict loads strictly into
    TintnViT under the original names, and the converted file computes the same logits."""
    zoo = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data", "zoo")
    conf = os.path.join(zoo, "vit_tintn_config.json")
    if not os.path.exists(conf):
        print("zoo ViTs: ../shared/data/zoo not found, skipped")
        return
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    for name in ("vit_tintn_zlwu00", "vit_tintn_davidwarchy"):
        path = os.path.join(zoo, name + ".pt")
        orig = torch.load(path, map_location="cpu")
        ref = pt_models.TintnViT(32, 4, 48, 4, 4, 192, 10).eval()
        ref.load_state_dict(orig, strict=True)
        assert pt_models.count_params(ref) == 119098
        sd, cfg, meta = convert_torch.convert_checkpoint(path, vit_config=conf)
        assert (cfg["heads"], cfg["dim"], cfg["depth"], cfg["patch_size"], meta["num_heads"]) == (4, 48, 4, 4, "4"), cfg
        timm = pt_models.build_model(cfg)
        timm.load_state_dict(sd, strict=True)
        with torch.no_grad():
            d = (timm(x) - ref(x)).abs().max().item()
        assert d < 1e-4, (name, d)
    print("zoo ViTs ok")


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_st_io(tmp)
        print("st_io ok")
        pt_models._selftest()
        test_convert(tmp)
        test_convert_tintn(tmp)
        print("convert_torch ok")
    test_zoo_vits()
    names = list(make_goldens.GOLDENS)
    assert all(make_goldens.verify_one(n, os.path.join(os.path.dirname(HERE), "tests", "goldens")) for n in names)
    print("all ok")


if __name__ == "__main__":
    main()
