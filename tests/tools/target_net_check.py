#!/usr/bin/env python3
"""tools/target_net.py's REPA wrapper (CTest target_net_patch_tokens), with
a stand-in for DINOv2 (the real one is a download): REPA's preprocessing
(to [0, 1], ImageNet mean / std, bicubic 224) reaches the encoder, the patch
tokens come back as a (B, C, 16, 16) map, grey images are repeated to 3
channels, and the traced file loads and gives the same map.

  target_net_check.py SOURCE_DIR
"""
import os
import sys
import tempfile

import torch
from torch import nn


class StandIn(nn.Module):
    """forward_features as DINOv2's: 14 x 14 patches of 224 px -> 256 tokens
    of width 8, plus what it saw (for the checks)."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Conv2d(3, 8, 14, stride=14)

    def forward_features(self, x):
        t = self.proj(x).flatten(2).transpose(1, 2)
        return {"x_norm_patchtokens": t, "x_norm_clstoken": t.mean(1)}


def main():
    sys.path.insert(0, os.path.join(sys.argv[1], "tools"))
    import target_net
    torch.manual_seed(0)
    enc = StandIn()
    net = target_net.PatchTokens(enc).eval()
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    y = net(x)
    assert y.shape == (2, 8, 16, 16), y.shape
    # The same map by hand: REPA's preprocess_raw_image, then the tokens on the 16 x 16 grid.
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    pre = nn.functional.interpolate(((x + 1) / 2 - mean) / std, size=(224, 224), mode="bicubic", align_corners=False)
    want = enc.forward_features(pre)["x_norm_patchtokens"].transpose(1, 2).reshape(2, 8, 16, 16)
    assert torch.allclose(y, want, atol=1e-6), (y - want).abs().max()
    grey = torch.rand(2, 1, 256, 256) * 2 - 1
    assert torch.allclose(net(grey), net(grey.repeat(1, 3, 1, 1)), atol=1e-6)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "t.pt")
        target_net.save_traced(net, torch.zeros(1, 3, 256, 256), path)
        loaded = torch.jit.load(path)
        assert torch.allclose(loaded(x), y, atol=1e-5)
    print("ok: the REPA wrapper preprocesses as REPA and returns the patch-token map; the traced file agrees")


if __name__ == "__main__":
    main()
