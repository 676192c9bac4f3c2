"""ldae.runs and ldae.curves: a results root as pandas and NumPy.

Reads the run folders themselves (results/runs/<id>/run.json, metrics.h5,
metrics.jsonl), the records of truth, so a read-only or copied results root
reads the same; results.db is only their index.
"""
import glob
import json
import os


def _number(text):
    """A param's recorded text as int, float or bool when it is one, else the string."""
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] == '"':  # a TOML string as the record keeps it
        return json.loads(text)
    for cast in (int, float):
        try:
            return cast(text)
        except (TypeError, ValueError):
            pass
    return text


def _flat(prefix, value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    elif not isinstance(value, list):
        out[prefix] = value


# run.json metrics that hold -1 for "not measured" (top-5 with five classes
# or fewer, a kNN probe turned off, ...): NaN in the table, so means skip them.
_NOT_MEASURED = ("probe_top5", "probe_knn_top1", "probe_knn_top5", "finetune_top1", "eval_fid",
                 "tokenizer_recon_mse")
_COLUMNS = ["id", "label", "status", "seed"]


def _runs_folder(results_root):
    runs_dir = os.path.join(results_root, "runs")
    if os.path.isdir(runs_dir):
        return runs_dir
    if not os.path.isdir(results_root):
        raise FileNotFoundError(f"{results_root}: no such folder; give a results root (the folder holding runs/)")
    if glob.glob(os.path.join(results_root, "*", "run.json")):
        raise ValueError(f"{results_root}: this is a runs/ folder; give its parent, the results root")
    return None


def runs(results_root="results"):
    """One row per run of `results_root`: id, label, status, seed, every param
    (columns named by key, e.g. "train.epochs", numbers as numbers) and every
    metric run.json records (probe_top1, probe_knn_top1, finetune_top1,
    eval_fid, timings.*, budget.*, encoder.*; -1 "not measured" as NaN), as a
    pandas DataFrame indexed by run id. A run.json that cannot be read is
    skipped with a warning naming it. FileNotFoundError for a missing root,
    ValueError for a runs/ folder given in its place."""
    import warnings

    import pandas as pd

    runs_dir = _runs_folder(results_root)
    rows = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "run.json"))) if runs_dir else []:
        try:
            with open(path) as f:
                rec = json.load(f)
        except ValueError as e:
            warnings.warn(f"{path}: skipped, not readable JSON ({e}); `run_sweep --reindex` names damaged runs")
            continue
        row = {"id": os.path.basename(os.path.dirname(path))}
        for k, v in rec.items():
            if k == "params":
                row.update({p: _number(t) for p, t in v.items()})
            elif k not in ("versions", "plugins"):
                _flat(k, v, row)
        for k in _NOT_MEASURED:
            if row.get(k) == -1:
                row[k] = float("nan")
        rows.append(row)
    df = pd.DataFrame(rows, columns=None if rows else _COLUMNS)
    return df.set_index("id", drop=False)


def _run_folder(run_dir):
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such folder; give a run's folder, results/runs/<id>")
    if not os.path.exists(os.path.join(run_dir, "run.json")) and os.path.isdir(os.path.join(run_dir, "runs")):
        raise ValueError(f"{run_dir}: a results root; give one run's folder, {run_dir}/runs/<id>")


def curves(run_dir):
    """A run's curves as DataFrames: {"train": step, loss, lr; "probe": epoch,
    train_loss, train_acc, test_acc; "finetune": epoch, train_loss, train_acc,
    test_acc (-1: not measured per epoch); "tokenizer": step, loss, recon_mse}
    from metrics.h5 (a finished run), else from the live log (a running one:
    its columns are live()'s)."""
    import pandas as pd

    _run_folder(run_dir)
    h5 = os.path.join(run_dir, "metrics.h5")
    if os.path.exists(h5):
        import h5py

        cols = {"train/loss": ("train", ["step", "loss", "lr"]),
                "probe/curve": ("probe", ["epoch", "train_loss", "train_acc", "test_acc"]),
                "finetune/curve": ("finetune", ["epoch", "train_loss", "train_acc", "test_acc"]),
                "tokenizer/fit_curve": ("tokenizer", ["step", "loss", "recon_mse"])}
        out = {}
        with h5py.File(h5, "r") as f:
            for name, (key, columns) in cols.items():
                if name in f:
                    out[key] = pd.DataFrame(f[name][()].reshape(-1, len(columns)), columns=columns)
        return out
    return live(run_dir)


def live(run_dir):
    """The live log of a run (running or done), metrics.jsonl, one DataFrame per
    phase: "train" (step, time, loss, lr, images_per_s), "probe" (epoch, time,
    train_loss, train_acc, test_acc), "finetune" (step, time, epoch, train_loss,
    train_acc, lr). {} before the first line is written."""
    import pandas as pd

    _run_folder(run_dir)
    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    df = pd.read_json(path, lines=True)
    out = {}
    for phase, g in df.groupby("phase"):
        g = g.drop(columns="phase").dropna(axis=1, how="all").reset_index(drop=True)
        out[phase] = g.rename(columns={"step": "epoch"}) if phase == "probe" else g
    return out


def probe_features(run_dir):
    """The probe's stored features and labels: (train_x (N, C), train_y (N,), test_x, test_y)
    as NumPy arrays from metrics.h5 (labels: runs recorded since they were stored, else None).
    FileNotFoundError for a run without metrics.h5 (not finished)."""
    import h5py

    _run_folder(run_dir)
    path = os.path.join(run_dir, "metrics.h5")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing; the run has not finished (metrics.h5 is written when it does)")
    with h5py.File(path, "r") as f:
        get = lambda k: f[k][()] if k in f else None
        return get("probe/features_train"), get("probe/labels_train"), get("probe/features_test"), get("probe/labels_test")
