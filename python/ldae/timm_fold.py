"""ldae.to_timm: a DiT encoder folded into timm's VisionTransformer.

At the probe's fixed t the DiT's conditioning c = t_embedder(t) is a
constant, so each block's adaLN modulation is too: LayerNorm(x) * (1 +
scale) + shift is a LayerNorm with weight 1 + scale and bias shift, and the
gated residual x + gate * branch is timm's LayerScale (gamma = gate). The
tokenizer (a linear one: pixel, patch_pca, patch_ae, patch_vae), the input
scale gamma_t, an image-space map V, the token grouping and the patch
embedding compose into one affine map per P x P patch: timm's PatchEmbed
convolution, with the input range folded in so the model takes float
images in [0, 1]. Positions are the DiT's fixed sin-cos table; there is no
class token unless the run had one; pooling is the probe's.
"""
from functools import partial

import torch
from torch import nn

from .encoder import load_encoder
from .nets import timestep_features


def _patch_map(enc):
    """The affine map of one P x P patch (C, P, P) in [0, 1] to its embedded token (W,):
    (weight (W, C, P, P), bias (W,)) in float64, found by evaluating the encoder's
    input path on the constant -1 patch and on each pixel basis image."""
    s, o = enc.spec, enc.spec["options"]
    C, p_tok, p = s["input"]["channels"], s["tokenizer"]["patch"], o["patch"]
    P = p_tok * p
    emb = enc.backbone.x_embedder

    def embed(u):  # (B, C, P, P) in [0, 1] -> (B, W), one token group per image
        z = enc.tokenizer(enc.to_input(u))  # (B, p*p, d)
        x = s["gamma"] * z
        if enc.V.numel():
            x = torch.matmul(x, enc.V)
        return emb(x.reshape(x.shape[0], 1, -1))[:, 0]  # grouped p x p tokens, row-major

    with torch.no_grad():
        enc64 = enc.double()
        zero = torch.zeros(1, C, P, P, dtype=torch.float64)
        bias = embed(zero)[0]
        basis = torch.eye(C * P * P, dtype=torch.float64).reshape(-1, C, P, P)
        weight = (embed(basis) - bias).t().reshape(-1, C, P, P)
        enc.float()
    return weight, bias


def to_timm(run_dir):
    """The DiT encoder of the run in `run_dir` as a timm VisionTransformer.

    Input: float images (N, C, H, W) in [0, 1] at the run's resolution;
    output (num_classes = 0): the probe's features (N, W), equal to
    ldae.load_encoder(run_dir) on the same images up to float rounding.
    ValueError for a U-Net or U-ViT run (not a ViT), a convolutional
    tokenizer (not a linear map per patch) or probe.pool = "cls_mean" (no
    timm global_pool concatenates the class token and the tokens' mean).
    """
    from timm.models.vision_transformer import VisionTransformer

    enc = load_encoder(run_dir)
    s, o = enc.spec, enc.spec["options"]
    if s["backbone"] != "dit":
        raise ValueError(f"to_timm folds the DiT backbone; this run's is {s['backbone']} (use ldae.load_encoder)")
    if s["pool"] == "cls_mean":
        raise ValueError("probe.pool = 'cls_mean' (DINO's class token and token mean, concatenated) has no timm "
                         "global_pool: use ldae.load_encoder(run_dir), whose output is that readout and whose "
                         "features(images) gives the tokens f for torch.cat([f[:, 0], f[:, 1:].mean(1)], -1)")
    if s["tokenizer"]["name"] == "conv_vae":
        raise ValueError("to_timm needs a tokenizer that is linear per patch; conv_vae is not (use ldae.load_encoder)")
    P = s["tokenizer"]["patch"] * o["patch"]
    W, depth = o["width"], s["block"]
    vit = VisionTransformer(
        img_size=(s["input"]["height"], s["input"]["width"]), patch_size=P, in_chans=s["input"]["channels"],
        num_classes=0, global_pool="token" if s["pool"] == "cls" else "avg", embed_dim=W, depth=depth,
        num_heads=o["heads"], mlp_ratio=o["mlp_ratio"], qkv_bias=True, class_token=o["cls_token"],
        no_embed_class=True, init_values=1.0, fc_norm=False, final_norm=False,
        act_layer=partial(nn.GELU, approximate="tanh"), norm_layer=partial(nn.LayerNorm, eps=1e-6))
    dit = enc.backbone
    with torch.no_grad():
        weight, bias = _patch_map(enc)
        vit.patch_embed.proj.weight.copy_(weight.float())
        vit.patch_embed.proj.bias.copy_(bias.float())
        vit.pos_embed.copy_(dit.pos_embed)
        if o["cls_token"]:
            vit.cls_token.copy_(dit.cls_token)
        t = torch.full((1,), float(s["t"]))
        c = dit.t_embedder(timestep_features(t, o["t_freq_dim"])) if dit.t_embedder is not None else None
        if o["num_classes"] > 0 and c is not None:
            c = c + dit.y_embedder(torch.full((1,), o["num_classes"], dtype=torch.long))
        for blk, b in zip(vit.blocks, dit.blocks):
            m = [x[0] for x in b.adaLN_modulation(torch.nn.functional.silu(c)).chunk(6, dim=1)]
            blk.norm1.weight.copy_(1 + m[1]), blk.norm1.bias.copy_(m[0])
            blk.attn.qkv.load_state_dict(b.qkv.state_dict())
            blk.attn.proj.load_state_dict(b.proj.state_dict())
            blk.ls1.gamma.copy_(m[2])
            blk.norm2.weight.copy_(1 + m[4]), blk.norm2.bias.copy_(m[3])
            blk.mlp.fc1.load_state_dict(b.fc1.state_dict())
            blk.mlp.fc2.load_state_dict(b.fc2.state_dict())
            blk.ls2.gamma.copy_(m[5])
    vit.pretrained_cfg = dict(getattr(vit, "pretrained_cfg", None) or {}, mean=(0.0,) * s["input"]["channels"],
                              std=(1.0,) * s["input"]["channels"], input_size=(s["input"]["channels"],
                              s["input"]["height"], s["input"]["width"]), crop_pct=1.0, ldae_run=s["run_id"])
    return vit.eval()
