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


_RERUN = "delete the run folder to rerun it"


def read_record(path):
    """A run's run.json (`path`) as a dict. ValueError naming the file (and the key)
    when it cannot be read, is not JSON, not a JSON object, or its `params` is not an
    object of strings (the harness's own reader refuses the same)."""
    try:
        with open(path, "rb") as f:
            rec = json.load(f)
    except OSError as e:
        raise ValueError(f"{path}: not readable ({e.strerror or e})") from None
    except ValueError as e:
        raise ValueError(f"{path}: not readable JSON ({e}); {_RERUN}") from None
    if not isinstance(rec, dict):
        raise ValueError(f"{path}: a JSON {type(rec).__name__}, not a run record (an object); {_RERUN}")
    params = rec.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        raise ValueError(f"{path}: key 'params' is {json.dumps(params)[:60]}, not an object of strings; {_RERUN}")
    return rec


# run.json metrics that hold -1 for "not measured" (top-5 with five classes
# or fewer, a kNN probe turned off, ...): NaN in the table, so means skip them.
_NOT_MEASURED = ("probe_top5", "probe_knn_top1", "probe_knn_top5", "finetune_top1", "eval_fid",
                 "tokenizer_recon_mse")
# Columns ldae.runs always has (docs/python.md), NaN where no run recorded them.
_COLUMNS = ["id", "label", "status", "seed", "probe_top1", *_NOT_MEASURED]


def _runs_folder(results_root):
    runs_dir = os.path.join(results_root, "runs")
    if os.path.isdir(runs_dir):
        return runs_dir
    if not os.path.isdir(results_root):
        raise FileNotFoundError(f"{results_root}: no such folder; give a results root (the folder holding runs/)")
    if glob.glob(os.path.join(results_root, "*", "run.json")):
        raise ValueError(f"{results_root}: this is a runs/ folder; give its parent, the results root")
    return None


def _row(path, rec):
    """One run's row: its id (run.json's, else the folder's name), params by key as numbers where they
    are, every other record flattened (timings.wall_s, ...), -1 "not measured" as NaN."""
    row = {"id": os.path.basename(os.path.dirname(path))}
    for k, v in rec.items():
        if k == "params":
            row.update({p: _number(t) for p, t in v.items()})
        elif k not in ("versions", "plugins"):
            _flat(k, v, row)
    for k in _NOT_MEASURED:
        if row.get(k) == -1:
            row[k] = float("nan")
    return row


def runs(results_root="results"):
    """One row per run of `results_root`: id, label, status, seed, every param
    (columns named by key, e.g. "train.epochs", numbers as numbers) and every
    metric run.json records (timings.*, budget.*, encoder.*, ...), as a pandas
    DataFrame indexed by run id. Always has the columns probe_top1, probe_top5,
    probe_knn_top1, probe_knn_top5, finetune_top1, eval_fid and
    tokenizer_recon_mse: NaN where not measured (-1 in run.json, or absent). A
    run.json that cannot be read (not JSON, not an object, `params` not an
    object of strings) is skipped with a warning naming it. FileNotFoundError
    for a missing root, ValueError for a runs/ folder given in its place."""
    import warnings

    import pandas as pd

    runs_dir = _runs_folder(results_root)
    rows = []
    for path in sorted(glob.glob(os.path.join(runs_dir, "*", "run.json"))) if runs_dir else []:
        try:
            rows.append(_row(path, read_record(path)))
        except ValueError as e:
            warnings.warn(f"{e}. Skipped; `run_sweep --reindex` names damaged runs")
    df = pd.DataFrame(rows)
    df = df.reindex(columns=list(df.columns) + [c for c in _COLUMNS if c not in df.columns])
    return df.set_index("id", drop=False)


def _run_folder(run_dir):
    if not os.path.isdir(run_dir):
        raise FileNotFoundError(f"{run_dir}: no such folder; give a run's folder, results/runs/<id>")
    if not os.path.exists(os.path.join(run_dir, "run.json")) and os.path.isdir(os.path.join(run_dir, "runs")):
        raise ValueError(f"{run_dir}: a results root; give one run's folder, {run_dir}/runs/<id>")


def _read_h5(path, read):
    """read(h5py.File) on the run's metrics.h5 at `path`; ValueError naming the file
    and the fix when h5py cannot read it (truncated, damaged, not HDF5)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return read(f)
    except (OSError, RuntimeError, KeyError, ValueError) as e:
        raise ValueError(f"{path}: unreadable ({e}); {_RERUN}") from None


def curves(run_dir):
    """A run's curves as DataFrames: {"train": step, loss, lr; "probe": epoch,
    train_loss, train_acc, test_acc; "finetune": epoch, train_loss, train_acc,
    test_acc (-1: not measured per epoch); "tokenizer": step, loss, recon_mse}
    from metrics.h5 (a finished run), else from the live log (a running one:
    its columns are live()'s). ValueError naming the file when metrics.h5 or
    metrics.jsonl cannot be read (see live())."""
    import pandas as pd

    _run_folder(run_dir)
    h5 = os.path.join(run_dir, "metrics.h5")
    if not os.path.exists(h5):
        return live(run_dir)
    cols = {"train/loss": ("train", ["step", "loss", "lr"]),
            "probe/curve": ("probe", ["epoch", "train_loss", "train_acc", "test_acc"]),
            "finetune/curve": ("finetune", ["epoch", "train_loss", "train_acc", "test_acc"]),
            "tokenizer/fit_curve": ("tokenizer", ["step", "loss", "recon_mse"])}

    def read(f):
        return {key: pd.DataFrame(f[name][()].reshape(-1, len(columns)), columns=columns)
                for name, (key, columns) in cols.items() if name in f}

    return _read_h5(h5, read)


def _jsonl_lines(path):
    """metrics.jsonl's lines that are JSON objects with a "phase", as text. A last line
    that is not JSON (a run killed mid-write) is skipped with a warning naming the file;
    any other bad line is a ValueError naming the file, the line and what is wrong."""
    import warnings

    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)
    good = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            if n == last:
                warnings.warn(f"{path}: line {n + 1}, the last, is partial (the run stopped mid-write); skipped")
                continue
            raise ValueError(f"{path}: line {n + 1} is not JSON ({e}); the log is damaged: delete or mend that "
                             f"line (a finished run's curves are also in metrics.h5)") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("phase"), str):
            raise ValueError(f"{path}: line {n + 1} is not a JSON object with a \"phase\" (train, probe, "
                             f"finetune): {line[:80].decode(errors='replace')}; delete or mend that line")
        good.append(line.decode())
    return good


def live(run_dir):
    """The live log of a run (running or done), metrics.jsonl, one DataFrame per
    phase: "train" (step, time, loss, lr, images_per_s), "probe" (epoch, time,
    train_loss, train_acc, test_acc), "finetune" (step, time, epoch, train_loss,
    train_acc, lr). {} before the first line is written. A partial last line (a
    run killed mid-write) is skipped with a warning; ValueError naming the file
    and line for any other line that is not a JSON object with a "phase"."""
    import io

    import pandas as pd

    _run_folder(run_dir)
    path = os.path.join(run_dir, "metrics.jsonl")
    lines = _jsonl_lines(path) if os.path.exists(path) else []
    if not lines:
        return {}
    df = pd.read_json(io.StringIO("\n".join(lines)), lines=True)
    out = {}
    for phase, g in df.groupby("phase"):
        g = g.drop(columns="phase").dropna(axis=1, how="all").reset_index(drop=True)
        out[phase] = g.rename(columns={"step": "epoch"}) if phase == "probe" else g
    return out


def probe_features(run_dir):
    """The probe's stored features and labels: (train_x (N, C), train_y (N,), test_x, test_y)
    as NumPy arrays from metrics.h5 (labels: runs recorded since they were stored, else None).
    FileNotFoundError for a run without metrics.h5 (not finished); ValueError naming the
    file when it cannot be read or its labels do not match its feature rows."""
    _run_folder(run_dir)
    path = os.path.join(run_dir, "metrics.h5")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: missing; the run has not finished (metrics.h5 is written when it does)")
    keys = ("probe/features_train", "probe/labels_train", "probe/features_test", "probe/labels_test")
    out = _read_h5(path, lambda f: tuple(f[k][()] if k in f else None for k in keys))
    for x, y, split in ((out[0], out[1], "train"), (out[2], out[3], "test")):
        if x is not None and y is not None and len(x) != len(y):
            raise ValueError(f"{path}: probe/features_{split} has {len(x)} rows but probe/labels_{split} "
                             f"{len(y)}: the file is damaged; {_RERUN}")
    return out
