#!/usr/bin/python3
"""Writes the PIL/torchvision goldens of tests/data.cpp into tests/data/pil/.

Run with Debian's Python (python3-pil, python3-torchvision):  /usr/bin/python3 tools/make_data_goldens.py

Inputs are small PNG images with deterministic content (smooth patterns plus seeded noise, so
that every rounding step of the resampler matters). For each case the expected uint8 HWC output
of torchvision.transforms on the PIL image is written raw (.u8), and one ToTensor + Normalize
output raw as float32 little-endian (.f32). cases.json lists the cases.
A JPEG written by PIL and its PIL (libjpeg) decoding measure the difference of stb_image's
decoder from PIL's; it does not take part in the resize goldens.
"""
import json
import os

import numpy as np
from PIL import Image
import torch
import torchvision
import torchvision.transforms as T

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "pil")


def pattern(w, h, seed, channels=3):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = []
    for c in range(channels):
        f = 0.07 + 0.05 * c
        v = (127 + 90 * np.sin(f * x + 0.13 * y * (c + 1)) + 30 * np.cos(0.21 * y - 0.05 * x * c)
             + rng.normal(0, 18, size=(h, w)))
        planes.append(v)
    a = np.clip(np.rint(np.stack(planes, axis=-1)), 0, 255).astype(np.uint8)
    # A few hard edges and saturated blocks: clipping at 0 and 255.
    a[h // 3:h // 3 + 3, :, :] = 255
    a[:, w // 4:w // 4 + 2, :] = 0
    return a if channels == 3 else a[..., 0]


def main():
    os.makedirs(OUT, exist_ok=True)
    images = {
        "wide.png": Image.fromarray(pattern(67, 45, 1)),       # landscape, odd sizes
        "tall.png": Image.fromarray(pattern(40, 53, 2)),       # portrait
        "gray.png": Image.fromarray(pattern(31, 23, 3, 1), mode="L"),  # grayscale PNG
        "photo.png": Image.fromarray(pattern(96, 72, 4)),     # 4:3, ImageNet-style pipeline
    }
    for name, im in images.items():
        im.save(os.path.join(OUT, name), optimize=False)

    cases = []

    def add(src, ops, out_name):
        im = Image.open(os.path.join(OUT, src)).convert("RGB")
        tf = []
        for op in ops:
            if op[0] == "resize":
                tf.append(T.Resize(op[1]))
            elif op[0] == "resize_hw":
                tf.append(T.Resize((op[1], op[2])))
            elif op[0] == "crop":
                tf.append(T.CenterCrop((op[1], op[2])))
        out = T.Compose(tf)(im)
        a = np.asarray(out, dtype=np.uint8)
        a.tofile(os.path.join(OUT, out_name))
        cases.append({"input": src, "ops": [list(o) for o in ops], "output": out_name,
                      "height": int(a.shape[0]), "width": int(a.shape[1])})

    add("wide.png", [("resize", 32)], "wide_r32.u8")         # 67x45 -> 47x32, shrink 1.41
    add("wide.png", [("resize", 20)], "wide_r20.u8")         # shrink 2.25: wider support
    add("wide.png", [("resize", 64)], "wide_r64.u8")         # enlarge
    add("wide.png", [("resize", 45)], "wide_r45.u8")         # unchanged size: identity
    add("tall.png", [("resize", 17)], "tall_r17.u8")         # 40x53 -> 17x22
    add("tall.png", [("resize", 33)], "tall_r33.u8")
    add("tall.png", [("resize_hw", 53, 29)], "tall_w29.u8")  # only the horizontal pass
    add("tall.png", [("resize_hw", 30, 40)], "tall_h30.u8")  # only the vertical pass
    add("gray.png", [("resize", 16)], "gray_r16.u8")         # grayscale -> RGB, then resize
    add("photo.png", [("resize", 48), ("crop", 40, 40)], "photo_r48_c40.u8")
    add("photo.png", [("crop", 41, 30)], "photo_c41x30.u8")  # margins 15.5 -> 16 (half to even)
    add("photo.png", [("crop", 65, 91)], "photo_c65x91.u8")  # margins 3.5 -> 4, 2.5 -> 2
    add("tall.png", [("crop", 60, 45)], "tall_c60x45.u8")    # larger than the image: zero pad
    add("wide.png", [("crop", 50, 30)], "wide_c50x30.u8")    # taller than the image only

    # ToTensor + Normalize(ImageNet) of photo.png after Resize(48) + CenterCrop(40).
    im = Image.open(os.path.join(OUT, "photo.png")).convert("RGB")
    norm = T.Compose([T.Resize(48), T.CenterCrop(40), T.ToTensor(),
                      T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(im)
    norm.numpy().astype("<f4").tofile(os.path.join(OUT, "photo_norm.f32"))

    # JPEG decoder comparison (4:2:0 chroma, PIL's default).
    Image.fromarray(pattern(48, 40, 5)).save(os.path.join(OUT, "photo.jpg"), quality=90)
    np.asarray(Image.open(os.path.join(OUT, "photo.jpg")).convert("RGB")).tofile(
        os.path.join(OUT, "photo_jpg_pil.u8"))

    meta = {"generator": "tools/make_data_goldens.py",
            "pil": Image.__version__, "torchvision": torchvision.__version__,
            "torch": torch.__version__, "cases": cases,
            "normalize": {"input": "photo.png", "resize": 48, "crop": 40,
                          "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
                          "output": "photo_norm.f32", "shape": list(norm.shape)},
            "jpeg": {"input": "photo.jpg", "pil_decoded": "photo_jpg_pil.u8", "height": 40, "width": 48}}
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
