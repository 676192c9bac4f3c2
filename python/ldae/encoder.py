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
from .results import read_record


def _why_no_encoder(run_dir):
    """Why RUN/encoder.json is missing, and the fix, from the run's own record."""
    if not os.path.isdir(run_dir):
        return f"{run_dir}: no such folder; give a run's folder, results/runs/<id>"
    rec_path = os.path.join(run_dir, "run.json")
    if not os.path.exists(rec_path):
        return (f"{run_dir}: not a run folder (no run.json); give results/runs/<id>, or the --out folder of "
                f"`run_sweep --export`")
    try:
        rec = read_record(rec_path)
    except ValueError as e:
        return f"{run_dir}: no encoder.json, and {e}"
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


# What encoder.json holds (core/export/encoder_export.cpp, spec_json) and this
# package reads: key -> type, per object ("options" is the backbone's sizes).
_NUM = (int, float)
_SPEC_KEYS = {
    "": {"run_id": str, "backbone": str, "options": dict, "block": int, "t": _NUM, "gamma": _NUM, "sigma": _NUM,
         "pool": str, "cls_token": bool, "input": dict, "tokenizer": dict, "weights": str},
    "input": {"channels": int, "height": int, "width": int, "normalize": bool},
    "tokenizer": {"name": str, "patch": int, "d": int, "scale": _NUM, "downsample": int},
    "options": {"in_dim": int, "grid_h": int, "grid_w": int, "patch": int, "depth": int, "width": int,
                "heads": int, "mlp_ratio": _NUM, "t_mlp_ratio": _NUM, "t_freq_dim": int, "num_classes": int,
                "cls_token": bool, "time_mlp": bool, "qkv_bias": bool},
}
_REEXPORT = "rewrite it with `run_sweep --export RUN_ID --results RESULTS` (docs/python.md)"


def _check_spec(path, spec):
    """ValueError naming `path` and the key when encoder.json lacks a key this package
    reads, or holds it as another JSON type."""
    for part, keys in _SPEC_KEYS.items():
        obj = spec[part] if part else spec
        for key, kind in keys.items():
            name = f"{part}.{key}" if part else key
            if key not in obj:
                raise ValueError(f"{path}: key '{name}' is missing; {_REEXPORT}")
            if not isinstance(obj[key], kind) or (kind is int and isinstance(obj[key], bool)):
                raise ValueError(f"{path}: key '{name}' is {json.dumps(obj[key])[:60]}, not "
                                 f"{'a number' if kind is _NUM else 'a JSON ' + kind.__name__}; {_REEXPORT}")


def _check_run_id(run_dir, path, spec):
    """ValueError when RUN/run.json names another run than encoder.json (files copied
    between runs). A run.json that cannot be read is left to ldae.runs to report."""
    rec_path = os.path.join(run_dir, "run.json")
    if not os.path.exists(rec_path):
        return  # the --out folder of `run_sweep --export`
    try:
        rid = read_record(rec_path).get("id")
    except ValueError:
        return
    if isinstance(rid, str) and rid != spec["run_id"]:
        raise ValueError(f"{path} is run {spec['run_id']}'s encoder, but {rec_path} is run {rid}'s: the files come "
                         f"from different runs; `run_sweep --export {rid} --results RESULTS` rewrites this run's "
                         f"encoder.json and encoder.safetensors")


def read_spec(run_dir):
    """RUN/encoder.json as a dict. FileNotFoundError saying why it is missing and
    the fix; ValueError naming the file (and the key) when it is not an encoder
    description, lacks a key this package reads, or names another run than RUN/run.json."""
    path = os.path.join(run_dir, "encoder.json")
    if not os.path.exists(path):
        raise FileNotFoundError(_why_no_encoder(run_dir))
    try:
        with open(path) as f:
            spec = json.load(f)
    except ValueError as e:
        raise ValueError(f"{path}: not readable JSON ({e}); {_REEXPORT}") from None
    if not isinstance(spec, dict) or spec.get("format") != "ldae-encoder":
        raise ValueError(f"{path}: not an ldae encoder description (no \"format\": \"ldae-encoder\"); {_REEXPORT}")
    spec.setdefault("weights", "encoder.safetensors")
    _check_spec(path, spec)
    _check_run_id(run_dir, path, spec)
    return spec


def _header_metadata(path, fix):
    """The `__metadata__` of a safetensors file's JSON header (8-byte little-endian
    length, then JSON), as a dict; ValueError naming the file and `fix` when the
    header is unreadable."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        n = int.from_bytes(raw, "little") if len(raw) == 8 else -1
        if n < 2 or n > size - 8:
            raise ValueError(f"{path}: not a safetensors file (its header length {n} does not fit its {size} "
                             f"bytes: truncated or another format); {fix}")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise ValueError(f"{path}: not a safetensors file (unreadable JSON header: {e}); {fix}") from None
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _check_pair(path, spec_path, spec):
    """ValueError unless encoder.safetensors (`path`) is the export encoder.json
    (`spec_path`) describes: its header's run_id and the size encoder.json recorded."""
    fix = f"rewrite both with `run_sweep --export {spec['run_id']} --results RESULTS`"
    meta = _header_metadata(path, fix)
    if meta.get("format") != "ldae-encoder" or "run_id" not in meta:
        raise ValueError(f"{path}: not an ldae encoder export (its header's metadata has no format "
                         f"\"ldae-encoder\" and run_id: {meta}); {fix}")
    if meta["run_id"] != spec["run_id"]:
        raise ValueError(f"{path} holds run {meta['run_id']}'s encoder, but {spec_path} describes run "
                         f"{spec['run_id']}'s: the two files are from different exports; {fix}")
    want = spec.get("weights_bytes")
    if want is not None and os.path.getsize(path) != want:
        raise ValueError(f"{path}: {os.path.getsize(path)} bytes where {spec_path} says {want}: the two files are "
                         f"from different exports, or the file is truncated; {fix}")


def read_tensors(run_dir, spec):
    """RUN/encoder.safetensors as {name: tensor}, checked against encoder.json (same
    export: the run_id in both, the size it recorded). FileNotFoundError when missing,
    ValueError naming both files when they do not belong together."""
    path = os.path.join(run_dir, spec.get("weights", "encoder.safetensors"))
    spec_path = os.path.join(run_dir, "encoder.json")
    fix = "rewrite both with `run_sweep --export RUN_ID --results RESULTS`"
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing beside its encoder.json; {fix}")
    _check_pair(path, spec_path, spec)
    try:
        return load_file(path)
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: not a readable safetensors file ({e}); {fix}") from None


def _take(tensors, prefix):
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


class Encoder(nn.Module):
    """images (N, C, H, W) -> the probe's features (N, feature_width; 2 x that for probe.pool "cls_mean"), float32.

    Input: a torch.Tensor (a NumPy array: torch.from_numpy) of integer pixel
    values 0..255 (uint8, int64, ...), or float in [0, 1] (torchvision's
    ToTensor), at the run's channels and resolution, N >= 1; ValueError for
    anything else (values outside those ranges, NaN, infinity, bool or complex
    dtypes, another shape, noise of another shape than the tokens). It is
    mapped to the harness's range (x * 2 - 1 when the run's data.normalize,
    else as is) at the run's resolution (spec["input"]: channels, height,
    width). Then: tokenizer -> tokens z (N, L, d); input gamma z (+ sigma *
    noise when given: the run's probe.noisy reads noisy inputs); image-space
    objectives map it by V; the backbone's hidden state after the probe's
    feature point at t; pooled (mean over tokens without the class token, the
    class token, or both concatenated: probe.pool "cls_mean", (N, 2C')). `features(images)` returns the unpooled tokens.
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

    def _refuse(self, what, got, fix):
        raise ValueError(f"the encoder of run {self.spec['run_id']} reads {what}; got {got}{fix}")

    def _check_tensor(self, x, what):
        """ValueError unless `x` is a torch tensor (a NumPy array: torch.from_numpy)."""
        if not torch.is_tensor(x):
            hint = f": use torch.from_numpy({what})" if type(x).__module__ == "numpy" else ""
            self._refuse(f"{what} as a torch.Tensor", type(x).__name__, hint)

    def check_images(self, images):
        """ValueError unless images are a torch tensor (N, C, H, W), N >= 1, at the run's
        channels and resolution, of an integer or float dtype (not bool or complex)."""
        i = self.spec["input"]
        want = (i["channels"], i["height"], i["width"])
        self._check_tensor(images, "images")
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            self._refuse(f"images (N, {want[0]}, {want[1]}, {want[2]}) (channels, height, width as it trained)",
                         tuple(images.shape), "")
        if images.shape[0] == 0:
            self._refuse("at least one image", "an empty batch (N = 0)", "")
        if images.dtype == torch.bool or images.dtype.is_complex:
            self._refuse("integer pixel values 0..255 or float values in [0, 1]", f"{images.dtype} images",
                         ": convert them, e.g. images.to(torch.uint8) * 255 for a bool mask")

    def to_input(self, images):
        """Images -> the harness's float range. Integer images (uint8, int64, ...) are pixel
        values 0..255, float images values in [0, 1]; ValueError for values outside
        those, NaN or infinity, saying what it found."""
        dtype = next(self.backbone.parameters()).dtype
        if not images.is_floating_point():
            lo, hi = int(images.min()), int(images.max())
            if lo < 0 or hi > 255:
                raise ValueError(f"integer images are pixel values 0..255; these span [{lo}, {hi}]: clamp or "
                                 f"rescale them (or pass float values in [0, 1])")
            x = images.to(dtype) / 255.0
        else:
            x = images.to(dtype)
            if not bool(torch.isfinite(images).all()):
                raise ValueError(f"float images hold {int((~torch.isfinite(images)).sum())} NaN or infinite "
                                 f"values; the encoder reads finite values in [0, 1]")
            lo, hi = float(x.min()), float(x.max())
            if lo < -1e-3 or hi > 1 + 1e-3:
                raise ValueError(f"float images are read in [0, 1] (torchvision's ToTensor); these span "
                                 f"[{lo:.3g}, {hi:.3g}]: divide by 255, or pass integer pixel values 0..255")
        return x * 2 - 1 if self.spec["input"]["normalize"] else x

    def check_noise(self, noise, z):
        """ValueError unless `noise` is a finite float tensor of the tokens' shape (N, L, d)."""
        self._check_tensor(noise, "noise")
        if tuple(noise.shape) != tuple(z.shape):
            self._refuse(f"noise shaped as its tokens (N, L, d) = {tuple(z.shape)}", tuple(noise.shape), "")
        if not noise.is_floating_point() or not bool(torch.isfinite(noise).all()):
            self._refuse("noise as finite float values (e.g. torch.randn)",
                         f"{noise.dtype} noise" if not noise.is_floating_point() else "NaN or infinite values", "")

    def features(self, images, noise=None):
        """(N, C, H, W) -> the hidden state (N, [1 +] tokens, C') before pooling.
        ValueError for images or noise it cannot read (check_images, to_input, check_noise)."""
        s = self.spec
        self.check_images(images)
        z = self.tokenizer(self.to_input(images))
        x = s["gamma"] * z
        if noise is not None:
            self.check_noise(noise, z)
            x = x + s["sigma"] * noise.to(x.dtype)
        if self.V.numel():
            x = torch.matmul(x, self.V)
        t = torch.full((x.shape[0],), float(s["t"]), device=x.device)
        return self.backbone(x, t)

    def forward(self, images, noise=None):
        f = self.features(images, noise).float()
        if self.spec["pool"] == "cls":
            return f[:, 0]
        if self.spec["pool"] == "cls_mean":  # DINO's ViT-B readout: (N, 2C)
            return torch.cat([f[:, 0], f[:, 1:].mean(1)], dim=-1)
        return (f[:, 1:] if self.spec["cls_token"] else f).mean(1)


def load_encoder(run_dir, device="cpu"):
    """The probed encoder of the run in `run_dir` (results/runs/<id>), in eval mode.

    Returns an `Encoder` (torch.nn.Module): images (N, C, H, W), uint8 or float
    in [0, 1], -> features (N, C'); its `spec` is encoder.json. Works for the
    dit, uvit and unet backbones and every built-in tokenizer.
    FileNotFoundError (saying why) when the run has no export; ValueError naming
    the file when encoder.json lacks a key or is damaged, or when encoder.json,
    encoder.safetensors and run.json are not of the same run and export.
    """
    spec = read_spec(run_dir)
    tensors = read_tensors(run_dir, spec)
    try:
        encoder = Encoder(spec, tensors)
    except ValueError as e:  # Encoder names the file alone: give its folder and the run's own fix
        msg, name = str(e), spec.get("weights", "encoder.safetensors")
        if msg.startswith(name):
            msg = os.path.join(run_dir, name) + msg[len(name):]
        raise ValueError(msg.replace("RUN_ID", spec["run_id"])) from None
    return encoder.to(device)
