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


def _why_no_encoder(run_dir):
    """Why RUN/encoder.json is missing, and the fix, from the run's own record."""
    if not os.path.isdir(run_dir):
        return f"{run_dir}: no such folder; give a run's folder, results/runs/<id>"
    rec_path = os.path.join(run_dir, "run.json")
    if not os.path.exists(rec_path):
        return (f"{run_dir}: not a run folder (no run.json); give results/runs/<id>, or the --out folder of "
                f"`run_sweep --export`")
    try:
        with open(rec_path) as f:
            rec = json.load(f)
    except ValueError:
        rec = {}
    params, rid = rec.get("params", {}), os.path.basename(os.path.normpath(run_dir))
    if params.get("probe.features", "").strip('"') == "raw_pixels":
        return f"{run_dir}: a raw-pixel run (probe.features = \"raw_pixels\") has no encoder to load"
    if rec.get("status") != "done":
        return f"{run_dir}: the run is {rec.get('status', 'not done')}; its encoder is written when it finishes"
    if params.get("eval.export_encoder") == "false":
        return (f"{run_dir}: the run was made with eval.export_encoder = false; "
                f"`run_sweep --export {rid} --results RESULTS` writes its encoder now")
    return (f"{run_dir}: no exported encoder (the run finished before exports existed, or its backbone or "
            f"tokenizer is a plugin's: see its log.txt); `run_sweep --export {rid} --results RESULTS` writes it")


def read_spec(run_dir):
    """RUN/encoder.json as a dict. FileNotFoundError saying why it is missing and
    the fix; ValueError naming the file when it is not an encoder description."""
    path = os.path.join(run_dir, "encoder.json")
    if not os.path.exists(path):
        raise FileNotFoundError(_why_no_encoder(run_dir))
    try:
        with open(path) as f:
            spec = json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: not readable JSON ({e}); rewrite it with `run_sweep --export RUN_ID`") from None
    if not isinstance(spec, dict) or spec.get("format") != "ldae-encoder":
        raise ValueError(f"{path}: not an ldae encoder description")
    return spec


def read_tensors(run_dir, spec):
    """RUN/encoder.safetensors, checked against encoder.json (same export)."""
    path = os.path.join(run_dir, spec.get("weights", "encoder.safetensors"))
    fix = "rewrite both with `run_sweep --export RUN_ID`"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing beside its encoder.json; {fix}")
    want = spec.get("weights_bytes")
    if want is not None and os.path.getsize(path) != want:
        raise ValueError(f"{path}: {os.path.getsize(path)} bytes where encoder.json says {want}: the two files are "
                         f"from different exports, or the file is truncated; {fix}")
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({e}); {fix}") from None


def _take(tensors, prefix):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


class Encoder(nn.Module):
    """images (N, C, H, W) -> the probe's features (N, feature_width), float32.

    Input: integer pixel values 0..255 (uint8, int64, ...), or float in [0, 1]
    (torchvision's ToTensor; ValueError outside it), at the run's channels and
    resolution (ValueError otherwise); it is mapped to the harness's range (x * 2 - 1 when the run's data.normalize,
    else as is) at the run's resolution (spec["input"]: channels, height,
    width). Then: tokenizer -> tokens z (N, L, d); input gamma z (+ sigma *
    noise when given: the run's probe.noisy reads noisy inputs); image-space
    objectives map it by V; the backbone's hidden state after the probe's
    feature point at t; pooled (mean over tokens without the class token, or
    the class token). `features(images)` returns the unpooled tokens.
    `noise`, for runs probed on noisy inputs (probe.noisy), is token-shaped
    (N, L, d): the harness drew its own per batch, so such features match the
    recorded ones only in distribution. Wrap calls in torch.no_grad() unless
    you train through it.
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
        try:
            missing, unexpected = module.load_state_dict(state, strict=False)
        except RuntimeError as e:
            raise ValueError(f"encoder.safetensors: {what} tensors do not fit encoder.json's sizes ({e}); "
                             f"rewrite both with `run_sweep --export RUN_ID`") from None
        if unexpected:
            raise ValueError(f"encoder.safetensors: {what} tensors this module has no place for: {unexpected[:5]}")
        if missing:
            raise ValueError(f"encoder.safetensors lacks {what} tensors: {missing[:5]}")

    def check_images(self, images):
        """ValueError unless images are (N, C, H, W) at the run's channels and resolution."""
        i = self.spec["input"]
        want = (i["channels"], i["height"], i["width"])
        if not torch.is_tensor(images) or images.dim() != 4 or tuple(images.shape[1:]) != want:
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"the encoder of run {self.spec['run_id']} reads images (N, {want[0]}, {want[1]}, "
                             f"{want[2]}) (channels, height, width as it trained); got {shape}")

    def to_input(self, images):
        """Images -> the harness's float range. Integer images (uint8, int64, ...) are pixel
        values 0..255; float images are in [0, 1] (ValueError outside it)."""
        dtype = next(self.backbone.parameters()).dtype
        if not images.is_floating_point():
            x = images.to(dtype) / 255.0
        else:
            x = images.to(dtype)
            lo, hi = float(x.min()), float(x.max())
            if lo < -1e-3 or hi > 1 + 1e-3:
                raise ValueError(f"float images are read in [0, 1] (torchvision's ToTensor); these span "
                                 f"[{lo:.3g}, {hi:.3g}]: divide by 255, or pass integer pixel values 0..255")
        return x * 2 - 1 if self.spec["input"]["normalize"] else x

    def features(self, images, noise=None):
        """(N, C, H, W) -> the hidden state (N, [1 +] tokens, C') before pooling."""
        s = self.spec
        self.check_images(images)
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
    return Encoder(spec, read_tensors(run_dir, spec)).to(device)
