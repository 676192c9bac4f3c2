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
`run_sweep --export ID --out DIR` writes the same encoder again. Then, on
copies of the run folders, what a user can break (check_faults): files of
two runs or exports mixed, damaged logs and metrics.h5, images and noise the
encoder cannot read, run.json and encoder.json of unexpected content; each
is refused (or skipped with a warning) naming the file and the fix.

  ldae_package.py RUN_SWEEP SOURCE_DIR   (CTest python_ldae_package; about 6 s)
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

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
label = "dit patch_vae cls_mean"
tokenizer.name = "patch_vae"
model.cls_token = true
probe.pool = "cls_mean"
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
label = "dit pca block 0"
probe.block = 0
train.base_lr = 0.09   # its own training (the live-log check reads train lines)
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
    assert len(run_dirs) == 7, run_dirs
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
        if got.shape != want.shape:
            failures.append(f"{label}: load_encoder gives {tuple(got.shape)}, the probe read {tuple(want.shape)}")
            continue
        e = rel_err(got, want)
        print(f"{label}: load_encoder {tuple(got.shape)} vs probe/features_test: relative error {e:.2e}")
        if e > TOL:
            failures.append(f"{label}: load_encoder differs by {e:.2e}")
        if enc.spec["tokenizer"]["name"] == "conv_vae" or enc.spec["pool"] == "cls_mean":
            try:
                ldae.to_timm(d)
                failures.append(f"{label}: to_timm folded a convolutional tokenizer or DINO's cls_mean readout")
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
    assert len(df) == 7 and df["train.epochs"].dtype.kind == "i" and (df["train.epochs"] == 10).all(), df.dtypes
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
    check_faults(tmp, run_dirs, images)
    if failures:
        sys.exit("\n".join(failures))
    print("ok: 7 runs, load_encoder and to_timm reproduce the recorded features; live logs and ldae.runs check out")


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


# ---- what a user can break (check_faults): each names the file and the fix ----

def expect(kind, fragments, fn, *args):
    """fn(*args) raises `kind` whose message holds every fragment; returns the message."""
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        fn(*args)
    except kind as e:
        msg = str(e)
        missing = [f for f in fragments if f not in msg]
        assert not missing, f"{name}: message lacks {missing}: {msg}"
        return msg
    raise AssertionError(f"{name}{tuple(type(a).__name__ for a in args)}: no {kind.__name__} raised")


def warned(fn, *args):
    """(fn(*args), the messages of the warnings it gave)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = fn(*args)
    return out, [str(x.message) for x in w]


def copy_run(src, results, name=None):
    dst = os.path.join(results, "runs", name or os.path.basename(src))
    shutil.copytree(src, dst)
    return dst


def check_faults(tmp, run_dirs, images):
    by_label = {json.load(open(os.path.join(d, "run.json")))["label"]: d for d in run_dirs}
    a, b = by_label["dit pca"], by_label["uvit pca"]
    results = os.path.join(tmp, "faults")
    test_encoder_pair_is_one_export(results, a, b)
    test_live_log_and_h5_damage(results, a)
    test_encoder_refuses_bad_inputs(a, images)
    test_odd_json(os.path.join(results, "odd"), a)
    test_runs_has_documented_columns(os.path.dirname(os.path.dirname(a)), results)
    print("ok: mixed exports, damaged logs and records, and bad inputs are refused naming the file and the fix")


def test_encoder_pair_is_one_export(results, a, b):
    """Item 1: encoder.safetensors of another run (same size) and encoder files copied
    from another run are refused, naming both files and both run ids."""
    ida, idb = os.path.basename(a), os.path.basename(b)
    assert len(ida) == len(idb)
    d = copy_run(a, results, "mixed_weights")  # run B's weights in run A's folder, same size
    path = os.path.join(d, "encoder.safetensors")
    raw = open(path, "rb").read()
    assert raw.count(ida.encode()) == 1, "the header's metadata names the run once"
    open(path, "wb").write(raw.replace(ida.encode(), idb.encode()))
    expect(ValueError, [path, "encoder.json", ida, idb, "run_sweep --export"], ldae.load_encoder, d)
    d = copy_run(a, results, "mixed_pair")  # run B's encoder files, run A's run.json
    for f in ("encoder.json", "encoder.safetensors"):
        shutil.copy(os.path.join(b, f), os.path.join(d, f))
    expect(ValueError, [os.path.join(d, "run.json"), "encoder.json", ida, idb], ldae.load_encoder, d)
    out = os.path.join(results, "exported_alone")  # an --out folder has no run.json: it loads
    os.makedirs(out)
    for f in ("encoder.json", "encoder.safetensors"):
        shutil.copy(os.path.join(a, f), os.path.join(out, f))
    ldae.load_encoder(out)


def test_live_log_and_h5_damage(results, a):
    """Item 2: a partial last line of metrics.jsonl is skipped with a warning naming the
    file; a bad line elsewhere, or one without "phase", is a ValueError naming file and
    line; a truncated metrics.h5 is a ValueError naming it and the fix."""
    d = copy_run(a, results, "damaged_logs")
    log = os.path.join(d, "metrics.jsonl")
    good = open(log).read()
    want = ldae.live(d)
    with open(log, "a") as f:
        f.write('{"phase":"train","step":80,"time":17965')  # killed mid-write
    got, msgs = warned(ldae.live, d)
    assert any(log in m and "partial" in m for m in msgs), msgs
    assert got.keys() == want.keys() and all(got[k].equals(want[k]) for k in want)
    lines = good.splitlines(keepends=True)
    open(log, "w").write("".join(lines[:2] + ['{"phase":"train","st\n'] + lines[2:]))
    expect(ValueError, [log, "line 3", "not JSON"], ldae.live, d)
    open(log, "w").write("".join(lines[:1] + ['{"step": 5, "loss": 1.0}\n'] + lines[1:]))
    expect(ValueError, [log, "line 2", '"phase"'], ldae.live, d)
    h5 = os.path.join(d, "metrics.h5")
    with open(h5, "r+b") as f:
        f.truncate(os.path.getsize(h5) // 2)
    for fn in (ldae.curves, ldae.probe_features):
        expect(ValueError, [h5, "delete the run folder to rerun it"], fn, d)
    os.remove(h5)  # a running run: curves reads the live log, with the same errors
    expect(ValueError, [log, "line 2"], ldae.curves, d)


def test_encoder_refuses_bad_inputs(a, images):
    """Item 3: out-of-range integers, NaN and infinity, bool images, an empty batch,
    noise of the wrong shape and a NumPy array are ValueErrors saying what is wanted."""
    enc = ldae.load_encoder(a)
    x = images[:2]
    with torch.no_grad():
        for bad, frag in ((x.long() + 300, "0..255"), (x.long() - 5, "0..255"),
                          (torch.full(x.shape, float("nan")), "NaN"), (torch.full(x.shape, float("inf")), "infinite"),
                          (x > 128, "torch.bool"), (x[:0], "empty batch"),
                          (x.numpy(), "torch.from_numpy")):
            expect(ValueError, [frag], enc, bad)
        z = enc.tokenizer(enc.to_input(x))
        expect(ValueError, [str(tuple(z.shape)), "(2, 3)"], enc, x, torch.zeros(2, 3))
        expect(ValueError, ["torch.from_numpy"], enc, x, torch.zeros(tuple(z.shape)).numpy())
        enc(x, torch.zeros(tuple(z.shape)))  # the right shape reads


def test_odd_json(results, a):
    """Item 4: run.json and encoder.json of unexpected content are errors naming the file
    and the key (ldae.runs: that run skipped with a warning naming it)."""
    copy_run(a, results, "intact")
    for name, content, frag in (("list_record", [1], "JSON list"), ("null_params", None, "'params'")):
        d = copy_run(a, results, name)
        rec = json.load(open(os.path.join(d, "run.json")))
        if content is None:
            rec["params"] = None
        json.dump(content or rec, open(os.path.join(d, "run.json"), "w"))
        os.remove(os.path.join(d, "encoder.json"))
        expect(FileNotFoundError, [os.path.join(d, "run.json"), frag], ldae.load_encoder, d)
    df, msgs = warned(ldae.runs, results)
    for name in ("list_record", "null_params"):
        path = os.path.join(results, "runs", name, "run.json")
        assert any(path in m for m in msgs), msgs
    assert list(df.label) == ["dit pca"], df  # the intact copy alone
    d = copy_run(a, results, "no_options")
    spec_path = os.path.join(d, "encoder.json")
    spec = json.load(open(spec_path))
    del spec["options"]
    json.dump(spec, open(spec_path, "w"))
    expect(ValueError, [spec_path, "'options'", "run_sweep --export"], ldae.load_encoder, d)
    spec["options"], spec["input"] = json.load(open(os.path.join(a, "encoder.json")))["options"], {"channels": 3}
    json.dump(spec, open(spec_path, "w"))
    expect(ValueError, [spec_path, "'input.height'"], ldae.load_encoder, d)
    # A weights file of the right export that lacks a tensor: the error names its full path and the run's fix.
    from safetensors import safe_open
    from safetensors.torch import save_file
    d = copy_run(a, results, "lacks_tensor")
    path, spec_path = os.path.join(d, "encoder.safetensors"), os.path.join(d, "encoder.json")
    with safe_open(path, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    del tensors[next(k for k in sorted(tensors) if k.startswith("backbone."))]
    save_file(tensors, path, metadata=meta)
    spec = json.load(open(spec_path))
    spec["weights_bytes"] = os.path.getsize(path)
    json.dump(spec, open(spec_path, "w"))
    expect(ValueError, [path, "lacks backbone tensors"], ldae.load_encoder, d)


def test_runs_has_documented_columns(*roots):
    """Item 5: every documented column, NaN where no run measured it."""
    for root in roots:
        df, _ = warned(ldae.runs, root)
        for col in ("label", "status", "seed", "probe_top1", "probe_top5", "probe_knn_top1", "probe_knn_top5",
                    "finetune_top1", "eval_fid"):
            assert col in df.columns, (root, col, list(df.columns)[:10])
        assert df["finetune_top1"].isna().all() and df["eval_fid"].isna().all()
        # A run that measured kNN records both its numbers (top-5 was missing from run.json;
        # with 5 classes or fewer it is -1, NaN in the table, as probe_top5 is).
        recs = [json.load(open(p)) for p in glob.glob(os.path.join(root, "runs", "*", "run.json"))]
        knn = [r for r in recs if "probe_knn_top1" in r]
        assert knn and all("probe_knn_top5" in r for r in knn), root
        assert df["probe_knn_top5"].isna().equals(df["probe_top5"].isna()), df[["probe_top5", "probe_knn_top5"]]
    empty = os.path.join(roots[-1], "empty_root")
    os.makedirs(os.path.join(empty, "runs"))
    assert "eval_fid" in ldae.runs(empty).columns


if __name__ == "__main__":
    main()
