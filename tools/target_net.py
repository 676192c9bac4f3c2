#!/usr/bin/env python3
"""Write a TorchScript network for representation alignment
(objective.align_target = PATH) or as a feature network (perceptual_net,
fid_net): forward(images (B, C, H, W) in [-1, 1]) -> a feature map
(B, F, h, w), whose last 4-D output the harness aligns with.

  random_cnn  a seeded, untrained 2-stage conv net (C -> 32 -> 64 channels,
              stride 2 each): the control target "features of a random
              network" (experiments/seed_alignment.toml, row 4)

Usage: python tools/target_net.py random_cnn OUT.pt [--channels 1] [--seed 0]
(the project's Python environment: make deps installs torch there).
"""
import argparse
import os
import sys

import torch
from torch import nn


class RandomCnn(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(channels, 32, 3, stride=2, padding=1), nn.SiLU())
        self.s2 = nn.Sequential(nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.s2(self.s1(x))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["random_cnn"])
    ap.add_argument("out")
    ap.add_argument("--channels", type=int, default=1, help="image channels (1 Fashion-MNIST, 3 CIFAR-10)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
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
