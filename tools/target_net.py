#!/usr/bin/env python3
"""Write a TorchScript network for representation alignment
(objective.align_target = PATH) or as a feature network (perceptual_net,
fid_net): forward(images (B, C, H, W) in [-1, 1]) -> a feature map
(B, F, h, w), whose last 4-D output the harness aligns with.

  random_cnn  a seeded, untrained 2-stage conv net (C -> 32 -> 64 channels,
              stride 2 each): the control target "features of a random
              network" (experiments/seed_alignment.toml, row 4, tiny)
  dinov2      REPA's target: DINOv2 ViT-B/14's normalised patch tokens
              (torch.hub facebookresearch/dinov2, dinov2_vitb14: a download,
              on a machine with network access), read as REPA's
              preprocess_raw_image does (images to [0, 1], ImageNet mean and
              std, bicubic resize to 224, grey images repeated to 3
              channels) -> (B, 768, 16, 16); traced for --size px inputs
              (row 4 at the small and paper profiles)

Usage: python tools/target_net.py random_cnn OUT.pt [--channels 1] [--seed 0]
       python tools/target_net.py dinov2 OUT.pt [--size 256]
(the project's Python environment: make deps installs torch there).
"""
import argparse
import math
import os
import sys
import warnings

import torch
from torch import nn


class RandomCnn(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(channels, 32, 3, stride=2, padding=1), nn.SiLU())
        self.s2 = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s2(self.s1(x))


class PatchTokens(nn.Module):
    """A DINOv2-style encoder's patch tokens as a feature map, read as REPA's
    utils.preprocess_raw_image: [-1, 1] -> [0, 1] -> ImageNet mean / std ->
    bicubic 224 x 224 -> forward_features(x)["x_norm_patchtokens"] (B, N, C)
    -> (B, C, sqrt N, sqrt N)."""

    def __init__(self, encoder: nn.Module, size: int = 224):
        super().__init__()
        self.encoder = encoder
        self.size = size
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        x = ((x + 1) / 2 - self.mean) / self.std
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bicubic", align_corners=False)
        t = self.encoder.forward_features(x)["x_norm_patchtokens"]
        side = math.isqrt(int(t.shape[1]))  # a constant of the trace: its input size is fixed
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], side, side)


def save_traced(net: nn.Module, example: torch.Tensor, out: str) -> None:
    """Traces `net` on `example` and writes it to `out` atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the fixed input size is the point
        torch.jit.trace(net.eval(), example).save(tmp)
    os.replace(tmp, out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["random_cnn", "dinov2"])
    ap.add_argument("out")
    ap.add_argument("--channels", type=int, default=1, help="image channels (1 Fashion-MNIST, 3 CIFAR-10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=256, help="dinov2: the side of the images it will read")
    a = ap.parse_args()
    if a.channels < 1:
        ap.error(f"--channels {a.channels}: images have at least 1 channel (1 Fashion-MNIST, 3 CIFAR-10)")
    if a.size < 14:
        ap.error(f"--size {a.size}: DINOv2 reads images of at least one 14 x 14 patch")
    if a.kind == "dinov2":
        try:
            encoder = torch.hub.load("facebookresearch/dinov2", "dinov2_vitb14")
        except Exception as e:  # no network, no cached copy
            print(f"target_net: cannot load DINOv2 from torch.hub ({type(e).__name__}: {str(e)[:160]}); "
                  "run this on a machine with network access (it caches under ~/.cache/torch/hub) "
                  "and copy OUT.pt here", file=sys.stderr)
            return 2
        save_traced(PatchTokens(encoder), torch.zeros(1, 3, a.size, a.size), a.out)
        print(f"written: {a.out} (DINOv2 ViT-B/14 patch tokens for {a.size} px images)")
        return 0
    torch.manual_seed(a.seed)
    net = RandomCnn(a.channels).eval()
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    torch.jit.script(net).save(tmp)
    os.replace(tmp, a.out)
    print(f"written: {a.out} ({a.kind}, {a.channels} channels, seed {a.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
