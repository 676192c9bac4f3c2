#!/usr/bin/env python3
"""python/ldae against the harness (CTest python_ldae_package).

A tiny image folder (PNG, 16 x 16 RGB, 3 classes) is swept through one run
per backbone (dit, uvit, unet) and tokenizer kind (PCA, an image-space
objective on pixels with a class token and 2 x 2 token groups, a learned
patch VAE, a convolutional VAE); then, for every
run:
- ldae.load_encoder on the test images, read here from the PNG files in the
  harness's order, reproduces metrics.h5's probe/features_test to 1e-5
  relative, and metrics.h5 holds the labels of those rows;
- ldae.to_timm (DiT runs) gives the same features from timm's
  VisionTransformer;
- metrics.jsonl has a line per logged step and probe epoch, and TensorBoard's
  own reader finds the same train/loss scalars in tb/;
- ldae.runs has one row per run, params as numbers, probe_top1 as run.json.
`run_sweep --export ID --out DIR` writes the same encoder again.

  ldae_package.py RUN_SWEEP SOURCE_DIR   (CTest python_ldae_package; about 6 s)
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

run_sweep, src = sys.argv[1], sys.argv[2]
try:  # what `make deps` installs; a machine without them (a GPU visit's PyTorch) skips
    import h5py, numpy as np, pandas, safetensors, tensorboard, timm, torch, torchvision  # noqa: F401,E401
except ImportError as e:
    print(f"skipped: {e} (make deps installs the Python packages this check reads with)")
    sys.exit(77)
sys.path.insert(0, os.path.join(src, "python"))
import ldae  # noqa: E402

# Relative tolerance on the features: the same operations in the same order
# give 0 here (to_timm, whose patch map is composed in float64, ~3e-7); the
# DiT's exact GELU in place of its tanh one moves them by 1.6e-5 to 1.1e-4.
TOL = 1e-5

SWEEP = """
[sweep]
name = "python_export"
mode = "independent"
seeds = [0]
[base]
data.name = "image_folder"
data.path = "{data}"
data.resolution = 16
data.pad = 0
tokenizer.patch = 4
tokenizer.d = 8
tokenizer.fit_patches = 2000
model.depth = 2
model.width = 32
model.heads = 2
train.epochs = 10
train.batch = 16
train.base_lr = 0.1
train.log_every = 10
probe.epochs = 2
probe.batch = 32
probe.t = 20
[[row]]
label = "dit pca"
[[row]]
label = "dit pixel image-space cls"
tokenizer.name = "pixel"
objective.space = "image"
objective.target = "original_image"
model.cls_token = true
probe.pool = "cls"
model.patch = 2
[[row]]
label = "dit patch_vae"
tokenizer.name = "patch_vae"
tokenizer.steps = 20
tokenizer.batch = 32
[[row]]
label = "dit conv_vae"
tokenizer.name = "conv_vae"
tokenizer.downsample = 2
tokenizer.width = 8
tokenizer.steps = 20
tokenizer.batch = 32
[[row]]
label = "uvit pca"
model.backbone = "uvit"
[[row]]
label = "unet pca"
model.backbone = "unet"
model.width = 16
"""


def make_folder(root):
    g = torch.Generator().manual_seed(0)
    for split, n in (("train", 40), ("val", 12)):
        for k, cls in enumerate(["a", "b", "c"]):
            os.makedirs(os.path.join(root, split, cls))
            for i in range(n):
                base = torch.zeros(3, 16, 16)
                base[k] = torch.linspace(0, 1, 16)[None, :]  # a class-coloured ramp
                img = (base * 200 + torch.rand(3, 16, 16, generator=g) * 55).to(torch.uint8)
                torchvision.io.write_png(img, os.path.join(root, split, cls, f"{i:03d}.png"))


def test_images(root):
    """The val/ images as the harness orders them: classes sorted, files sorted."""
    imgs = []
    for cls in sorted(os.listdir(os.path.join(root, "val"))):
        for f in sorted(glob.glob(os.path.join(root, "val", cls, "*.png"))):
            imgs.append(torchvision.io.decode_png(torchvision.io.read_file(f)))
    return torch.stack(imgs)


def rel_err(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        check(tmp)


def check(tmp):
    data, results = os.path.join(tmp, "data"), os.path.join(tmp, "results")
    make_folder(data)
    with open(os.path.join(tmp, "s.toml"), "w") as f:
        f.write(SWEEP.format(data=data))
    out = subprocess.run([run_sweep, os.path.join(tmp, "s.toml"), "--results", results, "--threads", "1"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"run_sweep failed ({out.returncode}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    images = test_images(data)
    failures = []
    run_dirs = sorted(glob.glob(os.path.join(results, "runs", "*")))
    assert len(run_dirs) == 6, run_dirs
    import h5py
    for d in run_dirs:
        rec = json.load(open(os.path.join(d, "run.json")))
        label = rec["label"]
        assert rec["encoder"]["weights"] == "encoder.safetensors", rec.get("encoder")
        with h5py.File(os.path.join(d, "metrics.h5"), "r") as h:
            want = torch.from_numpy(h["probe/features_test"][()])
            labels = h["probe/labels_test"][()]
        assert list(labels) == [k for k in range(3) for _ in range(12)], labels
        enc = ldae.load_encoder(d)
        with torch.no_grad():
            got = enc(images)
        e = rel_err(got, want)
        print(f"{label}: load_encoder {tuple(got.shape)} vs probe/features_test: relative error {e:.2e}")
        if e > TOL:
            failures.append(f"{label}: load_encoder differs by {e:.2e}")
        if enc.spec["tokenizer"]["name"] == "conv_vae":
            try:
                ldae.to_timm(d)
                failures.append(f"{label}: to_timm folded a convolutional tokenizer")
            except ValueError as e:
                print(f"{label}: to_timm refuses: {e}")
        elif enc.spec["backbone"] == "dit":
            vit = ldae.to_timm(d)
            with torch.no_grad():
                got_timm = vit(images.float() / 255)
            e = rel_err(got_timm, want)
            print(f"{label}: to_timm ({type(vit).__name__}, {sum(p.numel() for p in vit.parameters())} parameters)"
                  f": relative error {e:.2e}")
            if e > TOL:
                failures.append(f"{label}: to_timm differs by {e:.2e}")
        check_live(d, label, failures)
    df = ldae.runs(results)
    print(df[["label", "model.name", "tokenizer.name", "train.epochs", "probe_top1"]].to_string())
    assert len(df) == 6 and df["train.epochs"].dtype.kind == "i" and (df["train.epochs"] == 10).all(), df.dtypes
    assert set(df["model.name"]) == {"dit", "uvit", "unet"}, df["model.name"]
    for d in run_dirs:
        rec = json.load(open(os.path.join(d, "run.json")))
        assert df.loc[rec["id"], "probe_top1"] == rec["probe_top1"]
    c = ldae.curves(run_dirs[0])
    assert list(c["train"].columns) == ["step", "loss", "lr"] and len(c["probe"]) == 2, c
    # Export again, into another folder: the same tensors.
    rid = os.path.basename(run_dirs[0])
    exp = os.path.join(tmp, "exported")
    out = subprocess.run([run_sweep, "--export", rid, "--results", results, "--out", exp], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    from safetensors.torch import load_file
    a, b = load_file(os.path.join(run_dirs[0], "encoder.safetensors")), load_file(os.path.join(exp, "encoder.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), "run_sweep --export wrote other tensors"
    if failures:
        sys.exit("\n".join(failures))
    print("ok: 6 runs, load_encoder and to_timm reproduce the recorded features; live logs and ldae.runs check out")


def check_live(d, label, failures):
    lines = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    train = [l for l in lines if l["phase"] == "train"]
    probe = [l for l in lines if l["phase"] == "probe"]
    if not train or len(probe) != 2 or any("loss" not in l or "lr" not in l for l in train):
        failures.append(f"{label}: metrics.jsonl has {len(train)} train and {len(probe)} probe lines")
        return
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(os.path.join(d, "tb"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    steps = [e.step for e in acc.Scalars("train/loss")] if "train/loss" in tags else []
    losses = [e.value for e in acc.Scalars("train/loss")] if "train/loss" in tags else []
    if steps != [l["step"] for l in train] or not np.allclose(losses, [l["loss"] for l in train], rtol=1e-6):
        failures.append(f"{label}: TensorBoard's train/loss {list(zip(steps, losses))} differs from metrics.jsonl")
    if "probe/test_acc" not in tags:
        failures.append(f"{label}: TensorBoard lacks probe/test_acc (has {tags})")


if __name__ == "__main__":
    main()
