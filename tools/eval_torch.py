#!/usr/bin/env python3
"""PyTorch reference evaluation of a classifier on an image folder (DIR/<class>/<image>).

usage: eval_torch.py --model CKPT --data DIR [--classes A,B,.. | --classes-from-metadata]
                     [--heads H | --config FILE.json] [--limit N] [--json] [--json-out FILE --key NAME] [--preds FILE]

CKPT is a raw PyTorch checkpoint (.th/.pt/.pth, converted on the fly by convert_torch.py, with
--heads / --config as there: the tintn ViTs need one) or a converted .safetensors file.
Preprocessing (../shared/data/zoo/README.md): PIL decode, RGB, ToTensor (/255, CHW),
Normalize(mean, std) with the model's input_mean/input_std metadata (default ImageNet
0.485,0.456,0.406 / 0.229,0.224,0.225; the tintn ViTs 0.5,0.5,0.5 / 0.5,0.5,0.5); no resize, no crop.
The tintn ViTs run in pt_models.TintnViT (the tutorial's names) whatever the file.

Label map: model output i <-> class name i of the model's class list, matched to the folder names.
Only the folders of the model's classes are evaluated (a 5-class model sees its 5,000 images).
Class list: --classes, else the "classes" metadata with --classes-from-metadata (or automatically
for .safetensors files that have it), else the sorted folder names when their count equals
num_classes. Prediction = argmax of the logits (first index on ties).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

IMG_EXT = (".jpg", ".jpeg", ".png", ".bmp", ".ppm")


def die(msg):
    print(f"eval_torch.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def list_images(data, classes, limit):
    if not os.path.isdir(data):
        die(f"{data}: no such directory")
    folders = sorted(d for d in os.listdir(data) if os.path.isdir(os.path.join(data, d)))
    missing = [c for c in classes if c not in folders]
    if missing:
        die(f"{data}: no folder for class(es) {missing}; folders: {folders}")
    items = []
    for label, c in enumerate(classes):
        files = sorted(f for f in os.listdir(os.path.join(data, c)) if f.lower().endswith(IMG_EXT))
        if limit is not None:
            files = files[:limit]
        items += [(os.path.join(data, c, f), label) for f in files]
    return items, folders


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint (.th/.pt/.pth) or converted .safetensors")
    ap.add_argument("--data", required=True, help="image folder DIR/<class>/<image>")
    ap.add_argument("--classes", help="comma-separated class names in model output order")
    ap.add_argument("--classes-from-metadata", action="store_true", help="take the class list from the file's 'classes' metadata")
    ap.add_argument("--heads", type=int, help="ViT attention heads for a raw checkpoint (as convert_torch.py --heads)")
    ap.add_argument("--config", help="ViT config json for a raw checkpoint (as convert_torch.py --config)")
    ap.add_argument("--limit", type=int, help="evaluate only the first N images (sorted names) of each class")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    ap.add_argument("--json-out", help="merge the result into this JSON file under models[--key]")
    ap.add_argument("--key", help="name for --json-out (default: model file stem)")
    ap.add_argument("--preds", help="write per-image predictions (file, label, pred, logits) as JSON lines")
    a = ap.parse_args(argv)

    import numpy as np
    import PIL
    import torch
    from PIL import Image

    import convert_torch
    from pt_models import load_model

    torch.set_num_threads(a.threads)
    if not os.path.exists(a.model):
        die(f"{a.model}: no such file")
    try:
        model, cfg, meta = load_model(a.model, a.heads, a.config)
    except (convert_torch.ConvertError, ValueError, KeyError) as e:
        die(str(e) if str(e).startswith(a.model) else f"{a.model}: {e}")
    nc = cfg["num_classes"]

    if a.classes:
        classes = [c.strip() for c in a.classes.split(",")]
        src = "--classes"
    elif "classes" in meta and (a.classes_from_metadata or a.model.endswith(".safetensors")):
        classes = meta["classes"].split(",")
        src = "metadata"
    elif a.classes_from_metadata:
        die(f"{a.model}: no 'classes' metadata")
    else:
        folders = sorted(d for d in os.listdir(a.data) if os.path.isdir(os.path.join(a.data, d))) if os.path.isdir(a.data) else []
        if len(folders) != nc:
            die(f"{a.model}: {nc}-class model but {len(folders)} class folders in {a.data}; pass --classes")
        classes, src = folders, "sorted folders"
    if len(classes) != nc:
        die(f"{a.model}: {len(classes)} class names for a {nc}-output model")

    mean = [float(x) for x in meta.get("input_mean", "0.485,0.456,0.406").split(",")]
    std = [float(x) for x in meta.get("input_std", "0.229,0.224,0.225").split(",")]
    items, _ = list_images(a.data, classes, a.limit)
    if not items:
        die(f"{a.data}: no images")
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)

    t0 = time.time()
    correct = 0
    per_class = [[0, 0] for _ in classes]
    all_preds = []
    predf = open(a.preds, "w") if a.preds else None
    with torch.no_grad():
        for b in range(0, len(items), a.batch):
            chunk = items[b : b + a.batch]
            arrs = [np.asarray(Image.open(p).convert("RGB"), dtype=np.uint8) for p, _ in chunk]
            x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div(255.0)  # == ToTensor
            x = (x - m) / s  # == Normalize
            logits = model(x)
            pred = logits.argmax(dim=1)
            for (p, lab), pr, lg in zip(chunk, pred.tolist(), logits.tolist()):
                all_preds.append(pr)
                ok = int(pr == lab)
                correct += ok
                per_class[lab][0] += ok
                per_class[lab][1] += 1
                if predf:
                    predf.write(json.dumps({"file": os.path.relpath(p, a.data), "label": lab, "pred": pr, "logits": [round(v, 6) for v in lg]}) + "\n")
    if predf:
        predf.close()
    n = len(items)
    res = {
        "model": os.path.basename(a.model),
        "arch": cfg["arch"],
        "source_sha256": meta.get("source_sha256"),
        "input_mean": mean,
        "input_std": std,
        "classes": classes,
        "class_source": src,
        "images": n,
        "correct": correct,
        "top1": round(100.0 * correct / n, 2),
        "per_class_correct": {c: pc[0] for c, pc in zip(classes, per_class)},
        "per_class_images": {c: pc[1] for c, pc in zip(classes, per_class)},
        "limit_per_class": a.limit,
        "seconds": round(time.time() - t0, 1),
    }
    if a.json:
        print(json.dumps(res, indent=1))
    else:
        print(f"{a.model}: top1 {res['top1']:.2f} %  correct {correct}  images {n}  ({cfg['arch']}, classes from {src})")
    if a.json_out:
        key = a.key or os.path.splitext(os.path.basename(a.model))[0]
        doc = {}
        if os.path.exists(a.json_out):
            with open(a.json_out) as f:
                doc = json.load(f)
        doc.setdefault("models", {})
        from PIL import features

        doc["data"] = a.data
        doc["preprocessing"] = ("PIL decode, RGB, /255 (ToTensor), Normalize(input_mean, input_std) "
                                "(ImageNet 0.485,0.456,0.406 / 0.229,0.224,0.225 for the ResNets; 0.5,0.5,0.5 / "
                                "0.5,0.5,0.5 for the tintn ViTs; each entry's input_mean/input_std); no resize/crop; argmax")
        doc["order"] = ("images class-major in the model's class order, files sorted by name; "
                        "preds = predicted output index per image in that order (one character each, base 36)")
        doc["environment"] = {"torch": torch.__version__, "PIL": PIL.__version__, "numpy": np.__version__,
                              "libjpeg_turbo": features.version_feature("libjpeg_turbo") if features.check_feature("libjpeg_turbo") else None,
                              "jpeg": features.version_codec("jpg")}
        entry = {k: v for k, v in res.items() if k != "seconds"}
        if nc <= 36:
            entry["preds"] = "".join(np.base_repr(p_, 36).lower() for p_ in all_preds)
        doc["models"][key] = entry
        doc["models"] = dict(sorted(doc["models"].items()))
        with open(a.json_out, "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
