"""Plain-PyTorch reference models for goldens and reference evaluation.

* CifarResNet  - akamaster/pytorch_resnet_cifar10 layout (option-A shortcut), any depth 6n+2,
                 any base width, any number of classes. State-dict names match the zoo files
                 (after stripping `module.`).
* ResNet       - torchvision ResNet layout (conv1/bn1/maxpool/layer1-4/fc, blocks from
                 torchvision.models.resnet, downsample.0/.1) with configurable stem and stage
                 widths. With the default widths it is torchvision's resnet18/34/50/... and loads
                 their state dicts strictly.
* ViT          - timm VisionTransformer layout (patch_embed.proj, cls_token, pos_embed,
                 blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}, norm, head), pre-norm,
                 exact (erf) GELU, LayerNorm eps 1e-6, qkv with bias, head on the cls token.

`build_model(config)` builds any of them (plus torchvision's own ViT for "tv_vit") from the
config dict stored as JSON under metadata key "config" by convert_torch.py / make_goldens.py.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

# --------------------------------------------------------------------------------------------
# CIFAR ResNet (He et al. 2016, Sec. 4.2; akamaster's resnet.py)
# --------------------------------------------------------------------------------------------


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class CifarBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            # Option A: subsample by 2 (rows/cols 0,2,4,...), zero-pad planes//4 channels on
            # each side (the input channels land in the middle).
            pad = planes // 4
            self.shortcut = LambdaLayer(lambda x: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad), "constant", 0))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, depth=20, width=16, num_classes=10):
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        if width % 4 != 0:
            raise ValueError(f"CIFAR ResNet width must be a multiple of 4 (option-A padding), got {width}")
        n = (depth - 2) // 6
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(width, n, 1)
        self.layer2 = self._make_layer(2 * width, n, 2)
        self.layer3 = self._make_layer(4 * width, n, 2)
        self.linear = nn.Linear(4 * width, num_classes)

    def _make_layer(self, planes, n, stride):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        return self.linear(out.view(out.size(0), -1))


# --------------------------------------------------------------------------------------------
# torchvision-layout ResNet with configurable widths
# --------------------------------------------------------------------------------------------

RESNET_LAYERS = {
    "resnet18": ("basic", [2, 2, 2, 2]),
    "resnet34": ("basic", [3, 4, 6, 3]),
    "resnet50": ("bottleneck", [3, 4, 6, 3]),
    "resnet101": ("bottleneck", [3, 4, 23, 3]),
    "resnet152": ("bottleneck", [3, 8, 36, 3]),
}


class ResNet(nn.Module):
    """torchvision.models.ResNet with configurable widths (same module names, same forward).

    widths are the per-stage `planes` (torchvision: 64,128,256,512); a bottleneck stage outputs
    4*planes channels and its inner (conv1/conv2) width is planes * width_per_group / 64
    (torchvision's base_width; wide_resnet50_2 has 128). Bottleneck is torchvision's v1.5
    (stride on the 3x3 conv2)."""

    def __init__(self, block="basic", layers=(2, 2, 2, 2), widths=(64, 128, 256, 512), stem_width=64, num_classes=1000, width_per_group=64):
        super().__init__()
        self.base_width = width_per_group
        from torchvision.models.resnet import BasicBlock, Bottleneck

        blk = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.inplanes = stem_width
        self.conv1 = nn.Conv2d(3, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem_width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(blk, widths[0], layers[0], 1)
        self.layer2 = self._make_layer(blk, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(blk, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(blk, widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * blk.expansion, num_classes)
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, blk, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * blk.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * blk.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * blk.expansion),
            )
        kw = {"base_width": self.base_width} if blk.expansion == 4 else {}
        layers = [blk(self.inplanes, planes, stride, downsample, **kw)]
        self.inplanes = planes * blk.expansion
        for _ in range(1, blocks):
            layers.append(blk(self.inplanes, planes, **kw))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# --------------------------------------------------------------------------------------------
# timm-layout Vision Transformer in plain PyTorch
# --------------------------------------------------------------------------------------------

VIT_PRESETS = {  # name: (dim, depth, heads, patch, image_size)
    "vit_ti16": (192, 12, 3, 16, 224),
    "vit_s16": (384, 12, 6, 16, 224),
    "vit_b16": (768, 12, 12, 16, 224),
    "vit_b32": (768, 12, 12, 32, 224),
    "vit_l16": (1024, 24, 16, 16, 224),
}
TV_VIT_PRESETS = {  # torchvision names
    "tv_vit_b_16": (768, 12, 12, 16, 224),
    "tv_vit_b_32": (768, 12, 12, 32, 224),
    "tv_vit_l_16": (1024, 24, 16, 16, 224),
    "tv_vit_l_32": (1024, 24, 16, 32, 224),
    "tv_vit_h_14": (1280, 32, 16, 14, 224),
}


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch, bias=True)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # [B, N, D]


class Attention(nn.Module):
    def __init__(self, dim, heads, qkv_bias=True):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} not divisible by heads {heads}")
        self.heads = heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]  # [B, H, N, hd]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(x)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()  # exact erf GELU
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp_dim, eps=1e-6, qkv_bias=True):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    def __init__(self, image_size=224, patch_size=16, dim=768, depth=12, heads=12, mlp_dim=None, num_classes=1000, ln_eps=1e-6, qkv_bias=True):
        super().__init__()
        if image_size % patch_size:
            raise ValueError(f"image_size {image_size} not a multiple of patch_size {patch_size}")
        mlp_dim = mlp_dim or 4 * dim
        n = (image_size // patch_size) ** 2
        self.patch_embed = PatchEmbed(patch_size, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads, mlp_dim, ln_eps, qkv_bias) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=ln_eps)
        self.head = nn.Linear(dim, num_classes)

    def forward_features(self, x):
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        return self.norm(self.blocks(x))

    def forward(self, x):
        return self.head(self.forward_features(x)[:, 0])


def tv_vit_to_timm(sd):
    """Renames a torchvision VisionTransformer state dict to the timm names used by ViT above
    (in_proj = [q; k; v] rows, as timm's qkv; mlp.0/mlp.3 = fc1/fc2)."""
    import re

    out = {}
    for k, v in sd.items():
        n = k
        n = n.replace("class_token", "cls_token").replace("conv_proj.", "patch_embed.proj.")
        n = n.replace("encoder.pos_embedding", "pos_embed").replace("encoder.ln.", "norm.")
        n = n.replace("heads.head.", "head.")
        n = re.sub(r"^encoder\.layers\.encoder_layer_(\d+)\.", r"blocks.\1.", n)
        n = n.replace(".ln_1.", ".norm1.").replace(".ln_2.", ".norm2.")
        n = n.replace(".self_attention.in_proj_weight", ".attn.qkv.weight").replace(".self_attention.in_proj_bias", ".attn.qkv.bias")
        n = n.replace(".self_attention.out_proj.", ".attn.proj.")
        n = n.replace(".mlp.0.", ".mlp.fc1.").replace(".mlp.3.", ".mlp.fc2.")
        out[n] = v
    return out


# --------------------------------------------------------------------------------------------
# Config <-> model
# --------------------------------------------------------------------------------------------


def parse_config(meta):
    """Config dict from a metadata dict (uses the "config" JSON if present)."""
    if "config" in meta:
        return json.loads(meta["config"])
    raise ValueError("metadata has no 'config' entry; re-run convert_torch.py")


def build_model(cfg):
    """Builds an nn.Module (eval mode, uninitialised weights) from a config dict."""
    fam = cfg["family"]
    if fam == "cifar_resnet":
        m = CifarResNet(cfg["depth"], cfg["width"], cfg["num_classes"])
    elif fam == "resnet":
        m = ResNet(cfg["block"], cfg["layers"], cfg["widths"], cfg["stem_width"], cfg["num_classes"], cfg.get("width_per_group", 64))
    elif fam == "vit":
        m = ViT(cfg["image_size"], cfg["patch_size"], cfg["dim"], cfg["depth"], cfg["heads"], cfg["mlp_dim"], cfg["num_classes"], cfg.get("ln_eps", 1e-6), cfg.get("qkv_bias", True))
    elif fam == "tv_vit":
        from torchvision.models.vision_transformer import VisionTransformer

        m = VisionTransformer(image_size=cfg["image_size"], patch_size=cfg["patch_size"], num_layers=cfg["depth"], num_heads=cfg["heads"], hidden_dim=cfg["dim"], mlp_dim=cfg["mlp_dim"], num_classes=cfg["num_classes"])
    else:
        raise ValueError(f"unknown model family {fam!r}")
    return m.eval()


def load_model(path):
    """Model + metadata from a converted .safetensors file or a raw torch checkpoint."""
    if str(path).endswith(".safetensors"):
        import st_io

        tensors, meta = st_io.load(path, as_torch=True)
        cfg = parse_config(meta)
        sd = tensors
    else:
        import convert_torch

        sd, cfg, meta = convert_torch.convert_checkpoint(path)
        sd = {k: torch.as_tensor(v) for k, v in sd.items()}
    model = build_model(cfg)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: state dict mismatch: missing {missing[:8]}, unexpected {list(unexpected)[:8]}")
    return model.eval(), cfg, meta


def count_params(model):
    return sum(p.numel() for p in model.parameters())


def _selftest():
    import torchvision

    torch.manual_seed(0)
    for name, fn in [("resnet18", torchvision.models.resnet18), ("resnet50", torchvision.models.resnet50)]:
        tv = fn().eval()
        blk, layers = RESNET_LAYERS[name]
        m = ResNet(blk, layers).eval()
        m.load_state_dict(tv.state_dict(), strict=True)
        x = torch.randn(1, 3, 64, 64)
        assert torch.equal(m(x), tv(x)), name
    m = CifarResNet(20)
    assert count_params(m) == 269722, count_params(m)
    assert count_params(CifarResNet(56)) == 853018
    from torchvision.models.vision_transformer import VisionTransformer

    tv = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=4, hidden_dim=64, mlp_dim=128, num_classes=10).eval()
    with torch.no_grad():
        for p in tv.parameters():
            p.normal_(0, 0.2)
    v = ViT(32, 8, 64, 2, 4, 128, 10).eval()
    v.load_state_dict(tv_vit_to_timm(tv.state_dict()), strict=True)
    x = torch.randn(2, 3, 32, 32)
    d = (v(x) - tv(x)).abs().max().item()
    assert d < 1e-4, d
    print("pt_models self-test ok")


if __name__ == "__main__":
    _selftest()
