#!/usr/bin/env python3
"""VAE variants in PyTorch 1.13 on CPU, the peers of experiments/vae_variants.

--model vamp   the VampPrior (Tomczak & Welling 2018): the 784-400-20 ReLU
               encoder (mu and log-variance heads) and mirrored decoder of
               elbo's default VAE, a prior p(z) = 1/K sum_k q(z | u_k) over
               K = 500 learned pseudo-inputs u_k = hardtanh_[0,1](W e_k)
               (Tomczak's parameterisation, W initialised N(0.05, 0.01)),
               the KL estimated from the posterior's draw.
--model hier2  the two-stochastic-layer model of Burda et al. (2016), layer
               for layer elbo's `vae_variants --models hier2` (= `vae
               --stochastic-layers 2`; models/vae/net.c, hier.c,
               posterior_hier2.c, prior_hier2.c):
               q(z1|x):   784-200-200 tanh, then one linear head to 2 x 100
                          (mean | log-variance; the variance is exp of it)
               q(z2|z1):  the drawn z1 -> 100-100 tanh -> 2 x 50
               p(z1|z2):  z2 50 -> 100-100 tanh -> 2 x 100
               p(x|z1):   the drawn z1 -> 200-200 tanh -> 784 Bernoulli logits
               p(z2) = N(0, I); 521,084 parameters, as elbo's summary.json.
               Every layer nn.Linear with PyTorch's default initialisation,
               U(+-1/sqrt(fan_in)) for weights and biases, which is elbo's.
--model hier2-wu  hier2's layers with ReLU units, trained with the KL weight
               rising linearly from 0 to 1 over the first 10 epochs (step /
               (10 x steps per epoch), elbo's warm-up; Sonderby et al. 2016):
               elbo's `vae_variants --models hier2-wu`.
--model vae    the plain VAE (784-400-20 ReLU, one 2 x 20 head), for reference.

Same data as elbo (the IDX files), dynamic binarization of the training set
(a fresh Bernoulli draw per pixel per epoch, torch.bernoulli with the seeded
generator), the test set binarized once with elbo's own bits (its xoshiro256**
stream from seed 2 --binarize-seed + 2, reproduced by elbo_test_bits below), so
both sides score the same test images; Adam 1e-3, batch 128 (shuffled, last
batch partial), one reparameterized draw per example, the ELBO with the KL
estimated at the draw (log q - log p) for the VampPrior and the 2-layer model. The test -log p(x) is the IW-K estimate with
K = --iw draws, chunked over the draws (a running log-sum-exp) so K = 5000
fits in memory.

Prints one JSON object: per-epoch training seconds, the final test -ELBO and
the IW-K NLL.

    bench/peer-env 1 /usr/bin/python3 bench/variants_vs_torch.py --model vamp --epochs 50 --iw 5000

The output has the parameter count ("params"), to compare with elbo's.

NOTE: elbo's VampPrior lands from another part of issue 15; after it is
merged, check that this script's VampPrior matches it (K = 500, the
pseudo-input parameterisation and its initialisation) before quoting that
comparison. The 2-layer model was checked against elbo's code.
"""
import argparse
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LOG2PI = math.log(2 * math.pi)


def read_idx_images(path):
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"{path}: bad IDX image magic {magic}")
        data = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return torch.from_numpy(data.reshape(n, rows * cols).astype(np.float32) / 255.0)


def log_normal(z, mu, logvar):
    """log N(z; mu, diag e^logvar), summed over the last axis."""
    return -0.5 * ((z - mu).pow(2) * torch.exp(-logvar) + logvar + LOG2PI).sum(-1)


def bernoulli_ll(logits, x):
    return -F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").sum(-1)


class Gaussian(nn.Module):
    """An MLP to the mean and log-variance of a diagonal Gaussian: hidden
    layers with `act`, then one linear head to (mean | log-variance), as
    elbo's encoder head and hier MLPs (one GEMM, split by columns)."""

    def __init__(self, sizes, z, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.head = nn.Linear(sizes[-1], 2 * z)
        self.act = act

    def forward(self, h):
        for layer in self.layers:
            h = self.act(layer(h))
        return self.head(h).chunk(2, -1)


class MLP(nn.Module):
    def __init__(self, sizes, act):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = act

    def forward(self, h):
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i + 1 < len(self.layers):
                h = self.act(h)
        return h


class VampVAE(nn.Module):
    """784-400-20 ReLU; prior: the mixture of the posteriors of K pseudo-inputs
    (pseudo=0: the standard normal prior, the plain VAE)."""

    def __init__(self, d=784, h=400, z=20, pseudo=500):
        super().__init__()
        self.enc = Gaussian([d, h], z, F.relu)
        self.dec = MLP([z, h, d], F.relu)
        self.pseudo = pseudo
        if pseudo:
            self.u = nn.Linear(pseudo, d, bias=False)
            nn.init.normal_(self.u.weight, 0.05, 0.01)
            self.register_buffer("eye", torch.eye(pseudo))

    def log_prior(self, z):
        if not self.pseudo:
            return -0.5 * (z.pow(2) + LOG2PI).sum(-1)
        u = F.hardtanh(self.u(self.eye), 0.0, 1.0)          # (K, d)
        mu, logvar = self.enc(u)                             # (K, z)
        lp = log_normal(z.unsqueeze(-2), mu, logvar)         # (..., K)
        return torch.logsumexp(lp, -1) - math.log(self.pseudo)

    def terms(self, x, k):
        """(k, B) log p(x|z) and log q(z|x) - log p(z) at k reparameterized draws each."""
        mu, logvar = self.enc(x)
        eps = torch.randn(k, *mu.shape)
        z = mu + torch.exp(0.5 * logvar) * eps
        log_q = -0.5 * (eps.pow(2) + logvar + LOG2PI).sum(-1)
        return bernoulli_ll(self.dec(z), x), log_q - self.log_prior(z)

    def log_weights(self, x, k):
        """(k, B) log p(x, z) - log q(z|x) at k reparameterized draws each."""
        rec, kl = self.terms(x, k)
        return rec - kl


class Hier2VAE(nn.Module):
    """Burda et al.'s two stochastic layers, tanh units (or act)."""

    def __init__(self, d=784, act=torch.tanh):
        super().__init__()
        self.q1 = Gaussian([d, 200, 200], 100, act)
        self.q2 = Gaussian([100, 100, 100], 50, act)
        self.p1 = Gaussian([50, 100, 100], 100, act)
        self.px = MLP([100, 200, 200, d], act)

    def terms(self, x, k):
        m1, lv1 = self.q1(x)
        z1 = m1 + torch.exp(0.5 * lv1) * torch.randn(k, *m1.shape)
        m2, lv2 = self.q2(z1)
        z2 = m2 + torch.exp(0.5 * lv2) * torch.randn_like(m2)
        pm1, plv1 = self.p1(z2)
        log_prior = log_normal(z1, pm1, plv1) - 0.5 * (z2.pow(2) + LOG2PI).sum(-1)
        return bernoulli_ll(self.px(z1), x), log_normal(z1, m1, lv1) + log_normal(z2, m2, lv2) - log_prior

    def log_weights(self, x, k):
        rec, kl = self.terms(x, k)
        return rec - kl


def elbo_uniforms(seed, n):
    """n float32 uniforms as elbo_rng_uniform_f32 after elbo_rng_seed(seed):
    the xoshiro256** stream (seeded through splitmix64) of ops/rng.c, two
    24-bit uniforms per 64-bit draw, the high bits first."""
    M = (1 << 64) - 1
    s, z = [], seed
    for _ in range(4):
        z = (z + 0x9E3779B97F4A7C15) & M
        t = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
        t = ((t ^ (t >> 27)) * 0x94D049BB133111EB) & M
        s.append(t ^ (t >> 31))
    s0, s1, s2, s3 = s
    raw = np.empty((n + 1) // 2, dtype=np.uint64)
    for i in range(raw.size):
        r = (s1 * 5) & M
        raw[i] = ((((r << 7) | (r >> 57)) & M) * 9) & M
        t = (s1 << 17) & M
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & M
    u = np.empty(raw.size * 2, dtype=np.float32)
    u[0::2] = (raw >> np.uint64(40)).astype(np.float32) * np.float32(2.0 ** -24)
    u[1::2] = ((raw >> np.uint64(8)) & np.uint64(0xFFFFFF)).astype(np.float32) * np.float32(2.0 ** -24)
    return u[:n]


def elbo_test_bits(x, seed):
    """x (n, d) in [0, 1] binarized as elbo_dataset_binarize(seed) does: pixel
    on when u < x, the uniforms over the n*d pixels in row order (its chunks
    of 4096 are even, so the stream is one run of pairs)."""
    u = elbo_uniforms(seed, x.numel())
    return torch.from_numpy((u < x.numpy().reshape(-1)).astype(np.float32).reshape(x.shape))


@torch.no_grad()
def iw_nll(model, x, k, rows=1000):
    """Mean over x of -log (1/k) sum_j w_j, at most `rows` draws decoded at once."""
    total = 0.0
    if k <= rows:
        b = max(1, rows // k)
        for i in range(0, x.shape[0], b):
            lw = model.log_weights(x[i:i + b], k)
            total += -(torch.logsumexp(lw, 0) - math.log(k)).sum().item()
        return total / x.shape[0]
    for i in range(x.shape[0]):                               # one image, its draws in chunks
        xb = x[i:i + 1]
        acc = torch.full((1,), -math.inf, dtype=torch.float64)
        for j in range(0, k, rows):
            lw = model.log_weights(xb, min(rows, k - j)).double()
            acc = torch.logaddexp(acc, torch.logsumexp(lw, 0))
        total += -(acc - math.log(k)).item()
    return total / x.shape[0]


@torch.no_grad()
def neg_elbo(model, x, batch=1000):
    return sum(-model.log_weights(x[i:i + batch], 1).sum().item() for i in range(0, x.shape[0], batch)) / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("vamp", "hier2", "hier2-wu", "vae"), required=True)
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--binarize-seed", type=int, default=1, help="elbo's --binarize-seed: the test set's bits "
                    "are elbo's from seed 2 s + 2")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--pseudo", type=int, default=500, help="vamp: pseudo-inputs K")
    ap.add_argument("--iw", type=int, default=5000, help="draws of the test IW-K NLL")
    ap.add_argument("--iw-images", type=int, default=0, help="score the first N test images (0: all)")
    ap.add_argument("--train-size", type=int, default=0, help="first N training images (0: all; for smoke runs)")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte"))
    xte = read_idx_images(os.path.join(a.data, "t10k-images-idx3-ubyte"))
    if a.train_size > 0:
        xtr = xtr[:a.train_size]
    xte = elbo_test_bits(xte, 2 * a.binarize_seed + 2)       # static: once, elbo's bits
    if a.model.startswith("hier2"):
        model = Hier2VAE(xtr.shape[1], F.relu if a.model == "hier2-wu" else torch.tanh)
    else:
        model = VampVAE(xtr.shape[1], pseudo=a.pseudo if a.model == "vamp" else 0)
    warmup_steps = 10 * ((xtr.shape[0] + a.batch - 1) // a.batch) if a.model == "hier2-wu" else 0
    step = 0
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    gen_train = torch.Generator().manual_seed(a.seed * 2 + 1)
    n = xtr.shape[0]
    epoch_seconds, epoch_cpu, train_nelbo = [], [], []
    for epoch in range(a.epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, a.batch):
            xb = torch.bernoulli(xtr[perm[i:i + a.batch]], generator=gen_train)  # dynamic: afresh
            opt.zero_grad()
            rec, kl = model.terms(xb, 1)
            w = min(1.0, step / warmup_steps) if warmup_steps else 1.0
            loss = -(rec - w * kl).sum()
            loss.backward()
            opt.step()
            step += 1
            total += loss.item()
        epoch_seconds.append(time.perf_counter() - t0)
        epoch_cpu.append(time.process_time() - c0)
        train_nelbo.append(total / n)
        if not a.quiet:
            print(f"torch {a.model} epoch {epoch + 1}: {epoch_seconds[-1]:.3f} s, train -ELBO {train_nelbo[-1]:.3f}",
                  file=sys.stderr)

    out = {"model": a.model, "threads": a.threads, "seed": a.seed, "epochs": a.epochs,
           "params": sum(p.numel() for p in model.parameters()), "test_ones": int(xte.sum().item()),
           "epoch_seconds": epoch_seconds, "epoch_cpu_seconds": epoch_cpu, "train_neg_elbo": train_nelbo, "test_neg_elbo": neg_elbo(model, xte)}
    if a.iw > 0:
        xs = xte[:a.iw_images] if a.iw_images > 0 else xte
        t0 = time.perf_counter()
        out["test_iw_nll"] = iw_nll(model, xs, a.iw)
        out["iw_k"], out["iw_images"], out["iw_seconds"] = a.iw, xs.shape[0], time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
