"""l-DAE on Fashion-MNIST in plain PyTorch, written from the paper alone.

An independent check of the harness's recipe (and the peer of its training
loop in `make bench`): what a researcher would write from Chen, Liu, Xie, He,
"Deconstructing Denoising Diffusion Models for Self-Supervised Learning"
(arXiv:2401.14404), Sec. 4.5 and Table 3's last row, at the harness's tiny
scale. It shares no code with the harness.

  data      Fashion-MNIST train (60,000) / test (10,000), pixels in [-1, 1],
            padded to 32 x 32 with the background value, 8 x 8 patches
            (16 tokens of D = 64)
  tokenizer patch-wise PCA of 100,000 random training patches (centred),
            V_full (D, D) rows = eigenvectors by decreasing eigenvalue,
            V = its first d = 8 rows; no latent scaling
  noise     t ~ U{1..1000}, gamma_t = 1, sigma_t = sqrt(2) t / 1000
            (Table 3 "remove input scaling"), lambda_t = 1 / (1 + sigma_t^2)
  input     x_t = V^T (V x0 + sigma_t eps), eps ~ N(0, I_d) (image space)
  target    x0; loss lambda_t * mean_i w_i r_i^2, r = V_full (x0 - net(x_t)),
            w_i = 1 for i <= d, 0.1 beyond (Sec. 4.5)
  model     DiT (adaLN-Zero), 8 blocks, width 128, 4 heads, MLP ratio 4,
            fixed 2-D sin-cos positions, t-MLP hidden width 1/4 (l-DAE)
  train     AdamW (0.9, 0.999), weight decay 0, lr 1e-3, 100 linear warm-up
            steps then half-cycle cosine to 0, 1,872 steps of 128 (4 epochs),
            bf16 autocast
  probe     clean input (x = V^T V x0) at t = 10, output of block 4 (the
            encoder half) mean-pooled over tokens, BatchNorm1d(affine=False)
            + Linear (MAE practice), AdamW lr 1e-3, wd 0, batch 256,
            30 epochs, cosine decay; top-1 on the test split

Prints one `train` line (images/s of the training loop alone, after its
first 20 steps) and one `result` line.
Usage: python ldae_plain.py [--seed 0] [--threads 2] [--steps 1872] [--no-bf16]
"""
import argparse
import gzip
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_split(root, split):
    x = load_idx(os.path.join(root, f"{split}-images-idx3-ubyte.gz"))
    y = load_idx(os.path.join(root, f"{split}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(x.copy()).float() / 127.5 - 1.0           # (N, 28, 28) in [-1, 1]
    x = F.pad(x, (2, 2, 2, 2), value=-1.0)                          # (N, 32, 32)
    return x, torch.from_numpy(y.copy()).long()


def patchify(x, p):
    n, h, w = x.shape                                               # (N, H, W) -> (N, L, p*p)
    return x.reshape(n, h // p, p, w // p, p).permute(0, 1, 3, 2, 4).reshape(n, (h // p) * (w // p), p * p)


def sincos_2d(h, w, dim):
    def one_d(d, pos):
        omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
        out = pos.double()[:, None] * omega[None]
        return torch.cat([out.sin(), out.cos()], dim=1)
    gy, gx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return torch.cat([one_d(dim // 2, gy.flatten()), one_d(dim // 2, gx.flatten())], dim=1).float()


def timestep_embedding(t, dim=256, max_period=10000):
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def modulate(x, shift, scale):
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class Block(nn.Module):
    def __init__(self, w, heads):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(w, 3 * w)
        self.proj = nn.Linear(w, w)
        self.norm2 = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.fc1 = nn.Linear(w, 4 * w)
        self.fc2 = nn.Linear(4 * w, w)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(w, 6 * w))

    def forward(self, x, c):
        s1, sc1, g1, s2, sc2, g2 = self.ada(c).chunk(6, dim=1)
        b, n, w = x.shape
        q, k, v = self.qkv(modulate(self.norm1(x), s1, sc1)).reshape(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, w)
        x = x + g1.unsqueeze(1) * self.proj(a)
        h = self.fc2(F.gelu(self.fc1(modulate(self.norm2(x), s2, sc2)), approximate="tanh"))
        return x + g2.unsqueeze(1) * h


class DiT(nn.Module):
    def __init__(self, in_dim, grid, width=128, depth=8, heads=4, t_ratio=0.25):
        super().__init__()
        self.embed = nn.Linear(in_dim, width)
        self.register_buffer("pos", sincos_2d(grid, grid, width)[None])
        th = int(width * t_ratio)
        self.t_mlp = nn.Sequential(nn.Linear(256, th), nn.SiLU(), nn.Linear(th, width))
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.out = nn.Linear(width, in_dim)
        self.init_weights()

    def init_weights(self):
        for m in self.modules():                                    # DiT: xavier linears, zero biases
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for lin in self.t_mlp:
            if isinstance(lin, nn.Linear):
                nn.init.normal_(lin.weight, std=0.02)
        for b in self.blocks:                                       # adaLN-Zero: blocks start as identity
            nn.init.zeros_(b.ada[1].weight), nn.init.zeros_(b.ada[1].bias)
        for m in (self.ada[1], self.out):                           # and the output starts at zero
            nn.init.zeros_(m.weight), nn.init.zeros_(m.bias)

    def forward(self, x, t, upto=None):                             # x (B, L, D), t (B,)
        c = self.t_mlp(timestep_embedding(t))
        h = self.embed(x) + self.pos
        for i, b in enumerate(self.blocks):
            if upto is not None and i == upto:
                return h                                            # (B, L, W) features
            h = b(h, c)
        s, sc = self.ada(c).chunk(2, dim=1)
        return self.out(modulate(self.norm(h), s, sc))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=1872)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--d", type=int, default=8)
    ap.add_argument("--t-ratio", type=float, default=0.25, help="t-MLP hidden width / model width")
    ap.add_argument("--no-bf16", action="store_true")
    ap.add_argument("--probe-epochs", type=int, default=30)
    ap.add_argument("--train-only", action="store_true", help="stop after pre-training (for timing)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    p, T, d, beyond = 8, 1000, a.d, 0.1

    xtr, ytr = load_split(a.data, "train")
    xte, yte = load_split(a.data, "t10k")
    ptr, pte = patchify(xtr, p), patchify(xte, p)                   # (N, 16, 64)
    D = ptr.shape[-1]
    g = torch.Generator().manual_seed(a.seed)
    sample = ptr.reshape(-1, D)[torch.randint(0, ptr.shape[0] * ptr.shape[1], (100000,), generator=g)].double()
    mean = sample.mean(0)
    evals, evecs = torch.linalg.eigh(torch.cov((sample - mean).T))  # ascending
    V_full = evecs.flip(1).T.float().contiguous()                   # (D, D), rows by decreasing variance
    V = V_full[:d]                                                  # (d, D)
    mean = mean.float()
    ptr, pte = ptr - mean, pte - mean
    w = torch.full((D,), beyond)
    w[:d] = 1.0

    model = DiT(D, 32 // p, t_ratio=a.t_ratio)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, betas=(0.9, 0.999), weight_decay=0.0)
    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        return a.lr * 0.5 * (1 + math.cos(math.pi * (step - a.warmup) / max(1, a.steps - a.warmup)))

    n = ptr.shape[0]
    perm, pos = torch.randperm(n, generator=g), 0
    t_start, timed_from = None, 20
    for step in range(a.steps):
        if step == timed_from:
            t_start = time.perf_counter()
        if pos + a.batch > n:
            perm, pos = torch.randperm(n, generator=g), 0
        x0 = ptr[perm[pos: pos + a.batch]]                          # (B, L, D)
        pos += a.batch
        t = torch.randint(1, T + 1, (a.batch,), generator=g)
        sigma = math.sqrt(2) * t.float() / T                        # (B,)
        eps = torch.randn(a.batch, x0.shape[1], d, generator=g)
        xt = (x0 @ V.T + sigma[:, None, None] * eps) @ V            # x_t = V^T (V x0 + sigma eps)
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not a.no_bf16):
            pred = model(xt, t.float())
        r = (x0 - pred.float()) @ V_full.T                          # (B, L, D) in the PCA basis
        lam = 1.0 / (1.0 + sigma ** 2)
        loss = (lam[:, None] * (w * r ** 2).mean(-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == a.steps - 1:
            print(f"step {step} loss {loss.item():.5f} lr {lr_at(step):.2e}", flush=True)
    train_s = time.perf_counter() - t_start
    print(f"train torch={torch.__version__} threads={a.threads} steps={a.steps} "
          f"images_per_s={(a.steps - timed_from) * a.batch / train_s:.1f}", flush=True)
    if a.train_only:
        return

    model.eval()
    @torch.no_grad()
    def features(x):
        out = []
        for i in range(0, x.shape[0], 1000):
            xc = x[i: i + 1000] @ V.T @ V                           # clean input, projected
            t = torch.full((xc.shape[0],), 10.0)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not a.no_bf16):
                h = model(xc, t, upto=model.blocks.__len__() // 2)
            out.append(h.float().mean(1))                           # (B, W)
        return torch.cat(out)
    ftr, fte = features(ptr), features(pte)
    head = nn.Sequential(nn.BatchNorm1d(ftr.shape[1], affine=False), nn.Linear(ftr.shape[1], 10))
    nn.init.normal_(head[1].weight, std=0.01), nn.init.zeros_(head[1].bias)
    popt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=0.0)
    pb = 256
    total = a.probe_epochs * math.ceil(ftr.shape[0] / pb)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(popt, total)
    for _ in range(a.probe_epochs):
        head.train()
        order = torch.randperm(ftr.shape[0], generator=g)
        for i in range(0, ftr.shape[0], pb):
            idx = order[i: i + pb]
            loss = F.cross_entropy(head(ftr[idx]), ytr[idx])
            popt.zero_grad(set_to_none=True)
            loss.backward()
            popt.step()
            sched.step()
    head.eval()
    with torch.no_grad():
        acc = (head(fte).argmax(1) == yte).float().mean().item() * 100
    print(f"result seed={a.seed} top1={acc:.2f}", flush=True)


if __name__ == "__main__":
    main()
