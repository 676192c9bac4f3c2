"""The harness's tokenizers and backbones in plain PyTorch, as far as the
probe reads them: images -> tokens -> hidden state after a feature point.

Each module mirrors its C++ counterpart (named in its docstring) operation by
operation and keeps its parameter names, so an exported encoder's tensors
(RUN/encoder.safetensors, "backbone.*" and "tokenizer.*") load as they are.
Shapes: images (B, C, H, W) float in the harness's range; tokens (B, L, d)
on the tokenizer's h x w grid; features (B, N, W).
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


# ---- shared pieces (backbones/backbone.cpp) ---------------------------------

def patchify(x, p):
    """(B, C, H, W) -> (B, H/p * W/p, C*p*p), each patch flattened as (C, p, p)
    (tokenizers/tokenizer.cpp, patchify)."""
    B, C, H, W = x.shape
    return x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5).reshape(B, (H // p) * (W // p), C * p * p)


def group_tokens(x, h, w, p):
    """Group p x p neighbouring tokens of an h x w grid: (B, h*w, d) -> (B, h/p * w/p, p*p*d)."""
    if p == 1:
        return x
    B, _, d = x.shape
    return x.reshape(B, h // p, p, w // p, p, d).permute(0, 1, 3, 2, 4, 5).reshape(B, (h // p) * (w // p), p * p * d)


def timestep_features(t, dim):
    """(B,) steps -> (B, dim) [cos | sin] of t * exp(-ln(1e4) k / (dim/2)) (DiT's TimestepEmbedder)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def time_mlp(freq_dim, ratio, out):
    """DiT's t-embedding MLP: Linear(freq, hidden), SiLU, Linear(hidden, out), hidden = round(out * ratio)."""
    hidden = max(1, int(math.floor(out * ratio + 0.5)))
    return nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, out))


def self_attention(qkv_x, heads):
    """Multi-head attention on the fused projection (B, N, 3W) -> (B, N, W)."""
    B, N, W3 = qkv_x.shape
    W = W3 // 3
    q, k, v = qkv_x.reshape(B, N, 3, heads, W // heads).permute(2, 0, 3, 1, 4).unbind(0)
    return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, W)


def null_labels(batch, num_classes, device):
    """The class embedding's input when no label is given: the null class."""
    return torch.full((batch,), num_classes, dtype=torch.long, device=device)


# ---- tokenizers (tokenizers/*.cpp) -----------------------------------------

class LinearTokenizer(nn.Module):
    """pixel and patch_pca (tokenizers/linear.cpp): z = ((patch - mean) / scale) V^T, V (d, D)."""

    def __init__(self, spec):
        super().__init__()
        tok = spec["tokenizer"]
        self.p, self.scale = tok["patch"], float(tok["scale"])
        D = tok["patch"] ** 2 * spec["input"]["channels"]
        self.register_buffer("mean", torch.zeros(D))
        self.register_buffer("V", torch.zeros(tok["d"], D))

    def forward(self, x):
        return torch.matmul((patchify(x, self.p) - self.mean) / self.scale, self.V.t())


class PatchAeTokenizer(nn.Module):
    """patch_ae / patch_vae (tokenizers/patch_ae.cpp, patch_vae.cpp): the posterior mean of a
    linear map per patch, / scale (patch_vae's encoder gives [mean; log-variance])."""

    def __init__(self, spec):
        super().__init__()
        tok = spec["tokenizer"]
        self.p, self.d, self.scale = tok["patch"], tok["d"], float(tok["scale"])
        D = tok["patch"] ** 2 * spec["input"]["channels"]
        self.encoder = nn.Linear(D, self.d * (2 if tok["name"] == "patch_vae" else 1))

    def forward(self, x):
        return self.encoder(patchify(x, self.p))[..., : self.d] / self.scale


class ConvVaeTokenizer(nn.Module):
    """conv_vae (tokenizers/conv_vae.cpp): a 3x3 conv, SiLU, per level a stride-2 3x3 conv and
    SiLU, a 1x1 conv to [mean; log-variance]; tokens = the mean's p x p patches / scale."""

    def __init__(self, spec, shapes):
        super().__init__()
        tok = spec["tokenizer"]
        self.scale = float(tok["scale"])
        self.p = max(1, tok["patch"] // tok["downsample"])
        self.c = tok["d"] // (self.p * self.p)
        idx = sorted(int(k.split(".")[1]) for k in shapes if k.startswith("encoder.") and k.endswith(".weight"))
        layers = {}
        for n, i in enumerate(idx):
            out_ch, in_ch, k, _ = shapes[f"encoder.{i}.weight"]
            stride = 1 if n in (0, len(idx) - 1) else 2
            layers[i] = nn.Conv2d(in_ch, out_ch, k, stride=stride, padding=k // 2)
        seq = []
        for i in range(idx[-1] + 1):
            seq.append(layers[i] if i in layers else nn.SiLU())
        self.encoder = nn.Sequential(*seq)

    def forward(self, x):
        mean = self.encoder(x)[:, : self.c]
        return patchify(mean, self.p) / self.scale


def make_tokenizer(spec, shapes):
    name = spec["tokenizer"]["name"]
    if name in ("pixel", "patch_pca"):
        return LinearTokenizer(spec)
    if name in ("patch_ae", "patch_vae"):
        return PatchAeTokenizer(spec)
    if name == "conv_vae":
        return ConvVaeTokenizer(spec, shapes)
    raise ValueError(f"tokenizer '{name}' is not one python/ldae rebuilds")


# ---- DiT (backbones/dit.cpp) -------------------------------------------------

class DiTBlock(nn.Module):
    """adaLN-Zero block: x + gate * attn(modulate(LN(x))), then the same with the MLP (GELU, tanh)."""

    def __init__(self, W, heads, mlp_ratio):
        super().__init__()
        hidden = int(W * mlp_ratio)
        self.heads = heads
        self.norm1 = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
        self.qkv, self.proj = nn.Linear(W, 3 * W), nn.Linear(W, W)
        self.norm2 = nn.LayerNorm(W, eps=1e-6, elementwise_affine=False)
        self.fc1, self.fc2 = nn.Linear(W, hidden), nn.Linear(hidden, W)
        self.adaLN_modulation = nn.Linear(W, 6 * W)

    def forward(self, x, c):
        m = self.adaLN_modulation(F.silu(c)).chunk(6, dim=1)
        h = self.norm1(x) * (1 + m[1][:, None]) + m[0][:, None]
        x = x + m[2][:, None] * self.proj(self_attention(self.qkv(h), self.heads))
        h = self.norm2(x) * (1 + m[4][:, None]) + m[3][:, None]
        return x + m[5][:, None] * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class DiT(nn.Module):
    """DiT's encoder through `block` blocks: tokens (B, L, in_dim), t (B,) -> (B, [1 +] L/p^2, W)."""

    def __init__(self, o, block):
        super().__init__()
        self.o, W, p = o, o["width"], o["patch"]
        self.x_embedder = nn.Linear(o["in_dim"] * p * p, W)
        # The conditioning feeds the blocks only: at block 0 the export holds
        # neither embedder (no tensor of theirs is read).
        self.t_embedder = time_mlp(o["t_freq_dim"], o["t_mlp_ratio"], W) if block > 0 else None
        if o["num_classes"] > 0 and block > 0:
            self.y_embedder = nn.Embedding(o["num_classes"] + 1, W)
        self.blocks = nn.ModuleList(DiTBlock(W, o["heads"], o["mlp_ratio"]) for _ in range(block))
        L = (o["grid_h"] // p) * (o["grid_w"] // p)
        self.register_buffer("pos_embed", torch.zeros(1, L, W))
        if o["cls_token"]:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, W))

    def embed(self, tokens, t):
        o = self.o
        x = self.x_embedder(group_tokens(tokens, o["grid_h"], o["grid_w"], o["patch"])) + self.pos_embed
        c = None
        if self.t_embedder is not None:
            c = self.t_embedder(timestep_features(t, o["t_freq_dim"]))
            if o["num_classes"] > 0:
                c = c + self.y_embedder(null_labels(tokens.shape[0], o["num_classes"], tokens.device))
        if o["cls_token"]:
            x = torch.cat([self.cls_token.expand(x.shape[0], 1, -1).to(x.dtype), x], 1)
        return x, c

    def forward(self, tokens, t):
        x, c = self.embed(tokens, t)
        for b in self.blocks:
            x = b(x, c)
        return x


# ---- U-ViT (backbones/uvit.cpp) ----------------------------------------------

class UViTBlock(nn.Module):
    """Pre-norm block with affine LayerNorms; out blocks first map [x | skip] 2W -> W."""

    def __init__(self, W, heads, mlp_ratio, skip, qkv_bias):
        super().__init__()
        hidden = int(W * mlp_ratio)
        self.heads = heads
        self.skip_linear = nn.Linear(2 * W, W) if skip else None
        self.norm1 = nn.LayerNorm(W, eps=1e-6)
        self.qkv, self.proj = nn.Linear(W, 3 * W, bias=qkv_bias), nn.Linear(W, W)
        self.norm2 = nn.LayerNorm(W, eps=1e-6)
        self.fc1, self.fc2 = nn.Linear(W, hidden), nn.Linear(hidden, W)

    def forward(self, x, skip=None):
        if self.skip_linear is not None:
            x = self.skip_linear(torch.cat([x, skip], -1))
        x = x + self.proj(self_attention(self.qkv(self.norm1(x)), self.heads))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class UViT(nn.Module):
    """U-ViT through feature point `block` of its in, mid, out sequence (long skips):
    tokens (B, L, in_dim), t (B,) -> (B, [1 +] L/p^2, W), time and label tokens dropped."""

    def __init__(self, o, block):
        super().__init__()
        self.o, self.block, W, p = o, block, o["width"], o["patch"]
        half = o["depth"] // 2
        self.x_embedder = nn.Linear(o["in_dim"] * p * p, W)
        if o["time_mlp"]:
            self.t_embedder = time_mlp(o["t_freq_dim"], o["t_mlp_ratio"], W)
        if o["num_classes"] > 0:
            self.y_embedder = nn.Embedding(o["num_classes"] + 1, W)
        args = (W, o["heads"], o["mlp_ratio"])
        self.in_blocks = nn.ModuleList(UViTBlock(*args, False, o["qkv_bias"]) for _ in range(min(block, half)))
        if block > half:
            self.mid_block = UViTBlock(*args, False, o["qkv_bias"])
        self.out_blocks = nn.ModuleList(UViTBlock(*args, True, o["qkv_bias"]) for _ in range(max(0, block - half - 1)))
        self.extras = 1 + (o["num_classes"] > 0) + (1 if o["cls_token"] else 0)
        L = (o["grid_h"] // p) * (o["grid_w"] // p)
        self.pos_embed = nn.Parameter(torch.zeros(1, self.extras + L, W))
        if o["cls_token"]:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, W))

    def forward(self, tokens, t):
        o = self.o
        x = self.x_embedder(group_tokens(tokens, o["grid_h"], o["grid_w"], o["patch"]))
        B, W = x.shape[0], o["width"]
        time = self.t_embedder(timestep_features(t, o["t_freq_dim"])) if o["time_mlp"] else timestep_features(t, W)
        parts = [time[:, None].to(x.dtype)]
        if o["num_classes"] > 0:
            parts.append(self.y_embedder(null_labels(B, o["num_classes"], x.device))[:, None].to(x.dtype))
        if o["cls_token"]:
            parts.append(self.cls_token.expand(B, 1, W).to(x.dtype))
        x = torch.cat(parts + [x], 1) + self.pos_embed
        skips = []
        for b in self.in_blocks:
            x = b(x)
            skips.append(x)
        if hasattr(self, "mid_block"):
            x = self.mid_block(x)
        for b in self.out_blocks:
            x = b(x, skips.pop())
        return x[:, self.extras - (1 if o["cls_token"] else 0):]


# ---- U-Net (backbones/unet.cpp) ----------------------------------------------

_MULT = (1, 2, 2, 2)  # channel multiplier per level (DDPM's CIFAR-10)
_RES = 2              # residual blocks per level


def _group_norm(ch):
    return nn.GroupNorm(math.gcd(32, ch), ch, eps=1e-5)


class UNetResBlock(nn.Module):
    """GroupNorm, SiLU, conv; scale-shift by the embedding (ADM's use_scale_shift_norm); SiLU, conv; + skip."""

    def __init__(self, cin, cout, E):
        super().__init__()
        self.norm1, self.conv1 = _group_norm(cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb_proj = nn.Linear(E, 2 * cout)
        self.norm2, self.conv2 = _group_norm(cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb_proj(F.silu(emb)).to(h.dtype)[:, :, None, None].chunk(2, 1)
        h = self.conv2(F.silu(self.norm2(h) * (1 + scale) + shift))
        return (self.skip(x) if self.skip is not None else x) + h


class UNetAttention(nn.Module):
    def __init__(self, ch, heads):
        super().__init__()
        self.heads, self.norm = heads, _group_norm(ch)
        self.qkv, self.proj = nn.Linear(ch, 3 * ch), nn.Linear(ch, ch)

    def forward(self, x):
        B, C, h, w = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)
        return x + self.proj(self_attention(self.qkv(tokens), self.heads)).transpose(1, 2).reshape(B, C, h, w)


class UNetStep(nn.Module):
    """One feature point: [res] [attn] [res2] [conv: stride 2 down, or nearest 2x up first]."""

    def __init__(self):
        super().__init__()
        self.upsample = False

    def forward(self, x, emb):
        if hasattr(self, "res"):
            x = self.res(x, emb)
        if hasattr(self, "attn"):
            x = self.attn(x)
        if hasattr(self, "res2"):
            x = self.res2(x, emb)
        if hasattr(self, "conv"):
            if self.upsample:
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = self.conv(x)
        return x


class UNet(nn.Module):
    """The DDPM / ADM U-Net through feature point `block` (input steps, middle, output
    steps in data-flow order): tokens (B, L, in_dim), t (B,) -> (B, h'*w', C')."""

    def __init__(self, o, block):
        super().__init__()
        self.o, self.block = o, block
        p = o["patch"]
        C, h = max(1, o["width"] // 2), o["grid_h"] // p
        E, n = 4 * C, self.levels(o)
        sides = o.get("attn_sides") or []
        attends = (lambda l: (h >> l) in sides) if sides else (lambda l: l > 0)
        self.t_embedder = time_mlp(o["t_freq_dim"], o["t_mlp_ratio"], E)
        if o["num_classes"] > 0:
            self.y_embedder = nn.Embedding(o["num_classes"] + 1, E)

        def step(**parts):
            s = UNetStep()
            for k, v in parts.items():
                if k == "upsample":
                    s.upsample = v
                else:
                    s.add_module(k, v)
            return s

        self.input_steps = nn.ModuleList([step(conv=nn.Conv2d(o["in_dim"] * p * p, C, 3, padding=1))])
        skip_ch, ch = [C], C
        for l in range(n):
            for _ in range(_RES):
                parts = {"res": UNetResBlock(ch, C * _MULT[l], E)}
                ch = C * _MULT[l]
                if attends(l):
                    parts["attn"] = UNetAttention(ch, o["heads"])
                self.input_steps.append(step(**parts))
                skip_ch.append(ch)
            if l + 1 < n:
                self.input_steps.append(step(conv=nn.Conv2d(ch, ch, 3, stride=2, padding=1)))
                skip_ch.append(ch)
        self.middle = step(res=UNetResBlock(ch, ch, E), attn=UNetAttention(ch, o["heads"]), res2=UNetResBlock(ch, ch, E))
        self.output_steps = nn.ModuleList()
        for l in reversed(range(n)):
            for i in range(_RES + 1):
                parts = {"res": UNetResBlock(ch + skip_ch.pop(), C * _MULT[l], E)}
                ch = C * _MULT[l]
                if attends(l):
                    parts["attn"] = UNetAttention(ch, o["heads"])
                if l > 0 and i == _RES:
                    parts["conv"], parts["upsample"] = nn.Conv2d(ch, ch, 3, padding=1), True
                self.output_steps.append(step(**parts))
        # Only what feature point `block` reads (the export holds no more).
        n_in = len(self.input_steps)
        if block < n_in:
            self.input_steps, self.middle = self.input_steps[: block + 1], None
        if block <= n_in:
            self.output_steps = nn.ModuleList()
        else:
            self.output_steps = self.output_steps[: block - n_in]

    @staticmethod
    def levels(o):
        h, w, n = o["grid_h"] // o["patch"], o["grid_w"] // o["patch"], 1
        while n < 4:
            f = 1 << n
            if h % f or w % f or h // f < 2 or w // f < 2:
                break
            n += 1
        return n

    def forward(self, tokens, t):
        o, p = self.o, self.o["patch"]
        emb = self.t_embedder(timestep_features(t, o["t_freq_dim"]))
        if o["num_classes"] > 0:
            emb = emb + self.y_embedder(null_labels(tokens.shape[0], o["num_classes"], tokens.device))
        g = group_tokens(tokens, o["grid_h"], o["grid_w"], p)
        x = g.transpose(1, 2).reshape(g.shape[0], g.shape[2], o["grid_h"] // p, o["grid_w"] // p)
        skips, done = [], 0
        for s in self.input_steps:
            x = s(x, emb)
            skips.append(x)
            if done == self.block:
                return x.flatten(2).transpose(1, 2)
            done += 1
        x = self.middle(x, emb)
        if done == self.block:
            return x.flatten(2).transpose(1, 2)
        done += 1
        for s in self.output_steps:
            x = s(torch.cat([x, skips.pop()], 1), emb)
            if done == self.block:
                break
            done += 1
        return x.flatten(2).transpose(1, 2)


def make_backbone(name, options, block):
    if name == "dit":
        return DiT(options, block)
    if name == "uvit":
        return UViT(options, block)
    if name == "unet":
        return UNet(options, block)
    raise ValueError(f"backbone '{name}' is not one python/ldae rebuilds")
