#!/usr/bin/env python3
"""Streamed data (core/data/image_source.hpp), end to end on an image folder.

  streamed_runs.py equal  RUN_SWEEP MAKE_IMAGE_FOLDER SWEEP.toml
      The sweep run resident and streamed (data.resident_max_gb = 0) gives the
      same run ids, the same loss curves to float rounding and the same probe
      results within two test images (the raw-pixel anchor, held resident,
      is read from the store on demand streamed).
  streamed_runs.py memory RUN_SWEEP MAKE_IMAGE_FOLDER SWEEP.toml
      A streamed run's peak resident memory does not grow with the dataset:
      from 1,400 to 7,000 images (at 96 px; both above the probe's batch of
      1,024 rows) it grows by less than a quarter of the extra images'
      float32 size (what is left: the kNN probe's similarity blocks, capped
      at 256 MB, and the allocator's noise around 128-image read chunks; the
      raw-pixel anchor's rows are read on demand, 64 MB at a time),
      while a resident run (the control: the measurement sees memory) grows
      by more than half of it. The store is prepared first, by a dry run.
  streamed_runs.py whole  RUN_SWEEP MAKE_IMAGE_FOLDER SWEEP.toml
      The sweep run with data.whole_images = true and without: every run
      ends (exit 0) with its own id; the whole store is prepared as such and
      read per batch; rows that read only centre squares train the same
      losses to float rounding, rows that crop train other ones. Then Sec.
      5's row with data.crops_from = "files" on the same results: no store
      prepared nor tokenizer fitted again, other losses than the store's
      crops.
"""
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile


def run(cmd, log):
    """Runs cmd with output to log; returns (exit code, peak RSS in bytes)."""
    with open(log, "w") as out:
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(p.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stdout.write(open(log).read()[-4000:])
        sys.exit(f"FAIL: {' '.join(cmd)} exited {code}")
    return code, usage.ru_maxrss * 1024


def make_folder(tool, path, images, side_max):
    subprocess.run([tool, path, "--images", str(images), "--classes", "4", "--val", "0.25", "--min", "40",
                    "--max", str(side_max), "--seed", "1", "--threads", "2"], check=True, stdout=subprocess.DEVNULL)


def metrics(results):
    db = sqlite3.connect(os.path.join(results, "results.db"))
    rows = db.execute("select run_id, name, step, value from metrics").fetchall()
    return {(r, n, s): v for r, n, s, v in rows}


def run_log(results):
    text = ""
    for root, _, files in os.walk(os.path.join(results, "runs")):
        if "log.txt" in files:
            text += open(os.path.join(root, "log.txt")).read()
    return text


def run_pair(run_sweep, tool, sweep, tmp, images, names, setting):
    """A folder of `images` photos and the sweep run twice over it, into
    tmp/names[0] as it is and tmp/names[1] with --set `setting` (logs
    tmp/a.txt, tmp/b.txt). Returns (folder, results a, results b)."""
    folder = os.path.join(tmp, "folder")
    make_folder(tool, folder, images, 90)
    base = [run_sweep, sweep, "--set", f"data.path={folder}", "--threads", "2"]
    a, b = (os.path.join(tmp, n) for n in names)
    run(base + ["--results", a], os.path.join(tmp, "a.txt"))
    run(base + ["--results", b, "--set", setting], os.path.join(tmp, "b.txt"))
    return folder, a, b


def equal(run_sweep, tool, sweep, tmp):
    folder, a, b = run_pair(run_sweep, tool, sweep, tmp, 160, ("resident", "streamed"), "data.resident_max_gb=0")
    assert "resident in memory" in run_log(a) and "streamed from" not in run_log(a), "resident run not resident"
    assert "streamed from" in run_log(b), "the data.resident_max_gb = 0 run did not stream"
    # The raw-pixel anchor: held resident, read on demand streamed (no
    # features kept in metrics.h5), the same test accuracies below.
    on_demand = "as the probes need them (not kept in metrics.h5)"
    assert on_demand not in run_log(a) and run_log(b).count(on_demand) == 2, "the raw-pixel rows did not stream"
    assert "the 126 training rows read once" in run_log(b), "the streamed kNN did not say its passes"
    marks = {r: [json.load(open(os.path.join(r, "runs", i, "run.json"))).get("probe_rows")
                 for i in os.listdir(os.path.join(r, "runs"))
                 if os.path.exists(os.path.join(r, "runs", i, "run.json"))] for r in (a, b)}
    assert marks[b].count("on_demand") == 2 and "on_demand" not in marks[a], f"run.json's probe_rows: {marks}"
    for r in (a, b):  # the images are RGB JPEGs: RandAugment's three-channel operations ran
        assert "fine-tuning batches augmented" in run_log(r) and "images of 3 x 32 x 32" in run_log(r), f"{r}: no RGB fine-tuning"
    # One thread for the step leaves a core to the fine-tuning batches,
    # made ahead on a second thread, here from the store.
    c = os.path.join(tmp, "ahead")
    run([run_sweep, sweep, "--set", f"data.path={folder}", "--threads", "1", "--only", "RandAugment", "--results", c,
         "--set", "data.resident_max_gb=0"], os.path.join(tmp, "c.txt"))
    if len(os.sched_getaffinity(0)) >= 2:  # one core: the run makes them inline, rightly
        assert "fine-tuning batches augmented ahead on a second thread" in run_log(c), "no batches made ahead"
    ma, mb = metrics(a), metrics(b)
    assert ma.keys() == mb.keys(), f"different runs or metrics: {sorted(set(ma) ^ set(mb))[:5]}"
    losses = [k for k in ma if k[1] == "train.loss"]
    assert len(losses) >= 30, f"only {len(losses)} loss points"
    worst = 0.0
    for k in losses:
        rel = abs(ma[k] - mb[k]) / max(abs(ma[k]), 1e-12)
        worst = max(worst, rel)
        assert rel <= 1e-4, f"loss differs at {k}: {ma[k]} vs {mb[k]}"
    for k in ma:  # accuracies in %: 40 test images, 2.5 points each
        if k[1].endswith(("top1", "top5", "test_acc")):
            assert abs(ma[k] - mb[k]) <= 5.0 + 1e-9, f"{k}: {ma[k]} vs {mb[k]}"
    first = {k[0]: ma[k] for k in sorted(losses, key=lambda k: -k[2])}
    last = {k[0]: ma[k] for k in sorted(losses, key=lambda k: k[2])}
    assert any(last[r] < first[r] for r in first), "no loss fell: nothing was trained"
    print(f"ok: {len(losses)} loss points over {len(first)} runs agree (worst relative difference {worst:.2e})")
    # One process, rows that differ in data.resident_max_gb (and in a probe key,
    # or they would be one run id): each row
    # holds its data its own way (the process's data cache keys on it).
    mixed = os.path.join(tmp, "mixed.toml")
    base = open(sweep).read().split("[[row]]")[0]
    with open(mixed, "w") as f:
        f.write(base + '[[row]]\nlabel = "streamed"\ndata.resident_max_gb = 0\n\n[[row]]\nlabel = "resident"\nprobe.epochs = 2\n')
    c = os.path.join(tmp, "mixed")
    run([run_sweep, mixed, "--set", f"data.path={folder}", "--threads", "2", "--results", c],
        os.path.join(tmp, "c.txt"))
    logs = {}
    for root, _, files in os.walk(os.path.join(c, "runs")):
        if "log.txt" in files:
            text = open(os.path.join(root, "log.txt")).read()
            logs["streamed" if "'streamed'" in text else "resident"] = text
    assert "streamed from" in logs["streamed"], "the resident_max_gb = 0 row did not stream"
    assert "resident in memory" in logs["resident"], "the default row did not hold its data"
    print("ok: rows differing in data.resident_max_gb alone hold their data each their way")


def memory(run_sweep, tool, sweep, tmp):
    peaks = {}
    small, large, side = 1400, 7000, 96
    for n in (small, large):
        folder = os.path.join(tmp, f"folder{n}")
        make_folder(tool, folder, n, 140)
        for mode, extra in (("streamed", ["--set", "data.resident_max_gb=0"]), ("resident", [])):
            results = os.path.join(tmp, f"{mode}{n}")
            cmd = [run_sweep, sweep, "--set", f"data.path={folder}", "--set", f"data.resolution={side}", "--threads", "2",
                   "--results", results] + extra
            run(cmd + ["--dry-run"], os.path.join(tmp, f"prepare{n}.txt"))
            # A streamed run's peak moves by up to ~100 MiB from run to run
            # (glibc's arenas under the loader's threads): the median of 3,
            # each from scratch but for the prepared store (results/cache).
            # The resident control's growth is 10 times that: one run.
            tries = []
            for _ in range(3 if mode == "streamed" else 1):
                tries.append(run(cmd, os.path.join(tmp, f"{mode}{n}.txt"))[1])
                for entry in os.listdir(results):
                    if entry != "cache":
                        path = os.path.join(results, entry)
                        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            shutil.rmtree(results)
            peaks[(mode, n)] = sorted(tries)[len(tries) // 2]
    float_growth = (large - small) * 3 * side * side * 4
    grow = {m: peaks[(m, large)] - peaks[(m, small)] for m in ("streamed", "resident")}
    for (m, n), p in sorted(peaks.items()):
        print(f"{m:8s} {n:4d} images: peak {p / 2**20:7.1f} MiB")
    print(f"{large - small} more images: {float_growth / 2**20:.1f} MiB as float32; peak grew by "
          f"{grow['streamed'] / 2**20:.1f} MiB streamed, {grow['resident'] / 2**20:.1f} MiB resident")
    assert grow["resident"] > float_growth / 2, "the control failed: a resident run should grow with its data"
    assert grow["streamed"] < float_growth / 4, "a streamed run's memory grew with its data"
    print("ok: a streamed run's peak does not grow with its data")


def whole(run_sweep, tool, sweep, tmp):
    folder, a, b = run_pair(run_sweep, tool, sweep, tmp, 120, ("centre", "whole"), "data.whole_images=true")
    out = open(os.path.join(tmp, "b.txt")).read()
    assert "(whole, shorter side)" in out, "no whole store was prepared"
    # Rows differing in data.augment alone (it acts after loading) share one loaded dataset.
    assert out.count(" 4 classes, ") == 1, f"the folder was loaded {out.count(' 4 classes, ')} times"
    assert "streamed from" in run_log(b), "whole images were not read from the store"
    ma, mb = metrics(a), metrics(b)
    ids_a, ids_b = {k[0] for k in ma}, {k[0] for k in mb}
    assert len(ids_a) == len(ids_b) == 6 and not ids_a & ids_b, "expected 6 runs each, with ids of their own"
    db = {r: sqlite3.connect(os.path.join(r, "results.db")) for r in (a, b)}
    label = {r: dict(db[r].execute("select id, label from runs").fetchall()) for r in (a, b)}
    curve = {}
    for r, m in ((a, ma), (b, mb)):
        for (run_id, name, step), v in m.items():
            if name == "train.loss":
                curve.setdefault((label[r][run_id], r), []).append((step, v))
    centre = "centre squares only"
    same = sorted(curve[(centre, a)]) == sorted(curve[(centre, b)])
    close = all(abs(x[1] - y[1]) <= 1e-4 * max(abs(x[1]), 1e-12)
                for x, y in zip(sorted(curve[(centre, a)]), sorted(curve[(centre, b)])))
    assert close, f"the centre rows differ: {sorted(curve[(centre, a)])[:3]} vs {sorted(curve[(centre, b)])[:3]}"
    for lab in {k[0] for k in curve} - {centre}:  # other pixels: more than rounding apart somewhere
        worst = max(abs(x[1] - y[1]) / max(abs(x[1]), 1e-12)
                    for x, y in zip(sorted(curve[(lab, a)]), sorted(curve[(lab, b)])))
        assert worst > 1e-3, f"{lab}: the losses with whole images are within {worst:.1e} of the centre store's"
    # The raw-pixel anchor ran on whole images too (their centre squares in
    # memory within data.resident_max_gb, its probe's crops from the whole).
    raw = {r: db[r].execute("select status from runs where label like 'raw pixels%'").fetchall() for r in (a, b)}
    assert all(v == [("done",)] for v in raw.values()), f"the raw-pixel rows: {raw}"
    # Crops from the original files (data.crops_from = "files"), Sec. 5's row
    # under the same results: the same store and tokenizer (nothing prepared
    # or fitted again), other crops than the store's (photos of 40-90 px
    # against a store at 32 px).
    run([run_sweep, sweep, "--set", f"data.path={folder}", "--threads", "2", "--results", b, "--only", "2",
         "--set", "data.whole_images=true", "--set", "data.crops_from=files"], os.path.join(tmp, "c.txt"))
    assert "preparing" not in open(os.path.join(tmp, "c.txt")).read(), "the store was prepared again"
    mc = metrics(b)
    new = {k[0] for k in mc} - ids_b
    assert len(new) == 1, f"expected one new run, got {len(new)}"
    rid = new.pop()
    assert "tokenizer loaded from" in open(os.path.join(b, "runs", rid, "log.txt")).read(), "the tokenizer was refit"
    files = sorted((st, v) for (r, n, st), v in mc.items() if r == rid and n == "train.loss")
    sec5 = [lab for lab in {k[0] for k in curve} if lab.startswith("Sec. 5")][0]
    worst = max(abs(x[1] - y[1]) / max(abs(x[1]), 1e-12) for x, y in zip(files, sorted(curve[(sec5, b)])))
    assert len(files) == len(curve[(sec5, b)]) and worst > 1e-3, \
        f"crops from the files: losses within {worst:.1e} of the store's crops"
    print(f"ok: centre rows agree ({'bit for bit' if same else 'to float rounding'}), the 4 cropping rows differ, "
          "the raw-pixel anchor ran on both; crops from the files differ from the store's, on the same store")


def main():
    modes = {"equal": equal, "memory": memory, "whole": whole}
    if len(sys.argv) != 5 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    tmp = tempfile.mkdtemp(prefix="ldae-streamed-")
    try:
        modes[sys.argv[1]](*sys.argv[2:], tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
