"""ldae.load_encoder: a run's probed encoder as a torch.nn.Module.

Reads RUN/encoder.json (what to build) and RUN/encoder.safetensors (the
tensors), written by the harness for every finished run
(core/export/encoder_export.cpp) or by `run_sweep --export RUN_ID`.
"""
import json
import os

import torch
from safetensors.torch import load_file
from torch import nn

from . import nets


def read_spec(run_dir):
    """RUN/encoder.json as a dict; FileNotFoundError naming the file and the fix."""
    path = os.path.join(run_dir, "encoder.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"{path}: no exported encoder; runs finished before the export existed need "
            f"`run_sweep --export RUN_ID --results RESULTS` (RUN_ID: the folder's name)")
    with open(path) as f:
        spec = json.load(f)
    if spec.get("format") != "ldae-encoder":
        raise ValueError(f"{path}: not an ldae encoder description")
    return spec


def _take(tensors, prefix):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


class Encoder(nn.Module):
    """images (N, C, H, W) -> the probe's features (N, feature_width), float32.

    Input: uint8 in 0..255, or float in [0, 1] (torchvision's ToTensor); it is
    mapped to the harness's range (x * 2 - 1 when the run's data.normalize,
    else as is) at the run's resolution (spec["input"]: channels, height,
    width). Then: tokenizer -> tokens z (N, L, d); input gamma z (+ sigma *
    noise when given: the run's probe.noisy reads noisy inputs); image-space
    objectives map it by V; the backbone's hidden state after the probe's
    feature point at t; pooled (mean over tokens without the class token, or
    the class token). `features(images)` returns the unpooled tokens.
    """

    def __init__(self, spec, tensors):
        super().__init__()
        self.spec = spec
        shapes = {k: tuple(v.shape) for k, v in _take(tensors, "tokenizer.").items()}
        self.tokenizer = nets.make_tokenizer(spec, shapes)
        self.backbone = nets.make_backbone(spec["backbone"], spec["options"], spec["block"])
        self._load(self.tokenizer, _take(tensors, "tokenizer."), "tokenizer")
        self._load(self.backbone, _take(tensors, "backbone."), "backbone")
        self.register_buffer("V", tensors["input.V"] if "input.V" in tensors else torch.zeros(0))
        self.eval()

    @staticmethod
    def _load(module, state, what):
        missing, unexpected = module.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"encoder.safetensors: {what} tensors this module has no place for: {unexpected[:5]}")
        if missing:
            raise ValueError(f"encoder.safetensors lacks {what} tensors: {missing[:5]}")

    def to_input(self, images):
        """uint8 or [0, 1] float images -> the harness's float range."""
        if images.dtype == torch.uint8:
            x = images.float() / 255.0
        else:
            x = images if images.is_floating_point() else images.float()
        return x * 2 - 1 if self.spec["input"]["normalize"] else x

    def features(self, images, noise=None):
        """(N, C, H, W) -> the hidden state (N, [1 +] tokens, C') before pooling."""
        s = self.spec
        z = self.tokenizer(self.to_input(images))
        x = s["gamma"] * z
        if noise is not None:
            x = x + s["sigma"] * noise
        if self.V.numel():
            x = torch.matmul(x, self.V)
        t = torch.full((x.shape[0],), float(s["t"]), device=x.device)
        return self.backbone(x, t)

    def forward(self, images, noise=None):
        f = self.features(images, noise).float()
        if self.spec["pool"] == "cls":
            return f[:, 0]
        return (f[:, 1:] if self.spec["cls_token"] else f).mean(1)


def load_encoder(run_dir, device="cpu"):
    """The probed encoder of the run in `run_dir` (results/runs/<id>), in eval mode.

    Returns an `Encoder` (torch.nn.Module): images (N, C, H, W), uint8 or float
    in [0, 1], -> features (N, C'); its `spec` is encoder.json. Works for the
    dit, uvit and unet backbones and every built-in tokenizer.
    """
    spec = read_spec(run_dir)
    tensors = load_file(os.path.join(run_dir, spec.get("weights", "encoder.safetensors")))
    return Encoder(spec, tensors).to(device)
