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


def runs(results_root="results"):
    """One row per run of `results_root`: id, label, status, seed, every param
    (columns named by key, e.g. "train.epochs", numbers as numbers) and every
    metric run.json records (probe_top1, probe_knn_top1, finetune_top1,
    eval_fid, timings.*, budget.*), as a pandas DataFrame indexed by run id."""
    import pandas as pd

    rows = []
    for path in sorted(glob.glob(os.path.join(results_root, "runs", "*", "run.json"))):
        with open(path) as f:
            rec = json.load(f)
        row = {}
        for k, v in rec.items():
            if k == "params":
                row.update({p: _number(t) for p, t in v.items()})
            elif k not in ("versions", "plugins", "encoder"):
                _flat(k, v, row)
        rows.append(row)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index("id", drop=False)


def curves(run_dir):
    """A run's curves as DataFrames: {"train": step, loss, lr; "probe": epoch,
    train_loss, train_acc, test_acc; "finetune": ...; "tokenizer": ...} from
    metrics.h5 (a finished run), else from metrics.jsonl (a running one)."""
    import pandas as pd

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
    """The live log of a run (running or done): metrics.jsonl as one DataFrame per phase."""
    import pandas as pd

    path = os.path.join(run_dir, "metrics.jsonl")
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return {}
    df = pd.read_json(path, lines=True)
    return {phase: g.drop(columns="phase").dropna(axis=1, how="all").reset_index(drop=True)
            for phase, g in df.groupby("phase")}


def probe_features(run_dir):
    """The probe's stored features and labels: (train_x (N, C), train_y (N,), test_x, test_y)
    as NumPy arrays from metrics.h5 (labels: runs recorded since they were stored, else None)."""
    import h5py

    with h5py.File(os.path.join(run_dir, "metrics.h5"), "r") as f:
        get = lambda k: f[k][()] if k in f else None
        return get("probe/features_train"), get("probe/labels_train"), get("probe/features_test"), get("probe/labels_test")
