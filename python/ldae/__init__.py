"""ldae: the l-DAE harness's runs from Python.

    import ldae
    df = ldae.runs("results")                  # one row per run, params and metrics as columns
    c = ldae.curves("results/runs/<id>")       # {"train": DataFrame, "probe": ..., ...}
    enc = ldae.load_encoder("results/runs/<id>")   # images -> the probe's features
    vit = ldae.to_timm("results/runs/<id>")    # a DiT encoder as timm's VisionTransformer

Pure PyTorch, safetensors, NumPy (pandas and h5py for the tables, timm for
to_timm). docs/python.md has the details.
"""
from .encoder import Encoder, load_encoder, read_spec
from .results import curves, live, probe_features, runs
from .timm_fold import to_timm

__all__ = ["Encoder", "load_encoder", "read_spec", "runs", "curves", "live", "probe_features", "to_timm"]
