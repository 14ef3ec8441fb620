#!/usr/bin/env python3
"""The reference VAE in PyTorch 1.13 on CPU, for comparison with experiments/vae.

Same model, data and hyper-parameters as the elbo driver's defaults:
784-400-20 ReLU MLP encoder (mu and log-variance heads) and decoder, Bernoulli
likelihood on [0,1] pixels (BCE-with-logits summed over pixels), closed-form KL,
Adam lr 1e-3, batch 128 (shuffled each epoch, last batch partial), 10 epochs,
nn.Linear default initialisation. Reads the same decompressed IDX files.

--arch conv trains the conv VAE of `experiments/vae --arch conv` instead (class ConvVAE).

Prints one JSON object: per-epoch training seconds, per-epoch train/test
negative ELBO, and the final test negative ELBO (one posterior sample per
example, as the elbo driver does), plus the IWAE-K bound with --iw K.

    /usr/bin/python3 bench/vae_vs_torch.py --data data/fashion-mnist --threads 1 --seed 1
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


def read_idx_images(path):
    with open(path, "rb") as f:
        magic, n, rows, cols = struct.unpack(">IIII", f.read(16))
        if magic != 2051:
            raise ValueError(f"{path}: bad IDX image magic {magic}")
        data = np.frombuffer(f.read(n * rows * cols), dtype=np.uint8)
    return torch.from_numpy(data.reshape(n, rows * cols).astype(np.float32) / 255.0)


class VAE(nn.Module):
    def __init__(self, d=784, h=400, z=20):
        super().__init__()
        self.fc1 = nn.Linear(d, h)
        self.fc21 = nn.Linear(h, z)
        self.fc22 = nn.Linear(h, z)
        self.fc3 = nn.Linear(z, h)
        self.fc4 = nn.Linear(h, d)

    def encode(self, x):
        h = F.relu(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z):
        return self.fc4(F.relu(self.fc3(z)))  # logits

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


class ConvVAE(nn.Module):
    """The conv VAE of experiments/vae --arch conv on 28x28x1 images: encoder
    conv 1->32 k4 s2 p1, ReLU, conv 32->64 k4 s2 p1, ReLU, flatten (3136),
    dense 256, ReLU, dense 2Z; decoder dense Z->256, ReLU, dense 3136, ReLU,
    reshape 64x7x7, transposed conv 64->32 k4 s2 p1, ReLU, transposed conv
    32->1 k4 s2 p1 (logits). Flat 784-vectors in and out, as the MLP."""

    def __init__(self, z=20):
        super().__init__()
        self.c1 = nn.Conv2d(1, 32, 4, 2, 1)
        self.c2 = nn.Conv2d(32, 64, 4, 2, 1)
        self.fe = nn.Linear(3136, 256)
        self.head = nn.Linear(256, 2 * z)
        self.fd1 = nn.Linear(z, 256)
        self.fd2 = nn.Linear(256, 3136)
        self.t1 = nn.ConvTranspose2d(64, 32, 4, 2, 1)
        self.t2 = nn.ConvTranspose2d(32, 1, 4, 2, 1)
        self.z = z

    def encode(self, x):
        h = F.relu(self.c2(F.relu(self.c1(x.reshape(-1, 1, 28, 28)))))
        out = self.head(F.relu(self.fe(h.flatten(1))))
        return out[:, :self.z], out[:, self.z:]

    def decode(self, z):
        h = F.relu(self.fd2(F.relu(self.fd1(z)))).reshape(-1, 64, 7, 7)
        return self.t2(F.relu(self.t1(h))).flatten(1)  # logits

    def forward(self, x):
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decode(z), mu, logvar


def neg_elbo_terms(logits, x, mu, logvar):
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return rec, kl


@torch.no_grad()
def evaluate(model, x, batch=1000):
    rec_t = kl_t = 0.0
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        logits, mu, logvar = model(xb)
        rec, kl = neg_elbo_terms(logits, xb, mu, logvar)
        rec_t += rec.item()
        kl_t += kl.item()
    n = x.shape[0]
    return (rec_t + kl_t) / n, rec_t / n, kl_t / n


@torch.no_grad()
def iwae_nll(model, x, k, batch=100):
    """-log p(x) estimated with k importance samples from q(z|x) (log-mean-exp)."""
    total = 0.0
    log2pi = math.log(2 * math.pi)
    for i in range(0, x.shape[0], batch):
        xb = x[i:i + batch]
        mu, logvar = model.encode(xb)
        eps = torch.randn(k, *mu.shape)
        z = mu + torch.exp(0.5 * logvar) * eps                  # (k,B,Z)
        logits = model.decode(z.reshape(-1, z.shape[-1])).reshape(k, xb.shape[0], -1)
        log_px_z = -F.binary_cross_entropy_with_logits(
            logits, xb.expand(k, -1, -1), reduction="none").sum(-1)
        log_pz = -0.5 * (z.pow(2) + log2pi).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + logvar + log2pi).sum(-1)
        lw = log_px_z + log_pz - log_qz                          # (k,B)
        total += -(torch.logsumexp(lw, 0) - math.log(k)).sum().item()
    return total / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--hidden", type=int, default=400)
    ap.add_argument("--latent", type=int, default=20)
    ap.add_argument("--arch", choices=("mlp", "conv"), default="mlp")
    ap.add_argument("--iw", type=int, default=0, help="also report the IWAE-K test NLL")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xtr = read_idx_images(os.path.join(a.data, "train-images-idx3-ubyte"))
    xte = read_idx_images(os.path.join(a.data, "t10k-images-idx3-ubyte"))

    if a.arch == "conv":
        model = ConvVAE(a.latent)
    else:
        model = VAE(xtr.shape[1], a.hidden, a.latent)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    n = xtr.shape[0]
    epoch_seconds, train_nelbo, test_nelbo = [], [], []
    for epoch in range(a.epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, a.batch):
            xb = xtr[perm[i:i + a.batch]]
            opt.zero_grad()
            logits, mu, logvar = model(xb)
            rec, kl = neg_elbo_terms(logits, xb, mu, logvar)
            loss = rec + kl
            loss.backward()
            opt.step()
            total += loss.item()
        epoch_seconds.append(time.perf_counter() - t0)
        train_nelbo.append(total / n)
        model.eval()
        te = evaluate(model, xte)
        test_nelbo.append(te[0])
        if not a.quiet:
            print(f"torch epoch {epoch + 1}: {epoch_seconds[-1]:.3f} s train {train_nelbo[-1]:.3f} "
                  f"test {te[0]:.3f}", file=sys.stderr)

    out = {
        "arch": a.arch, "threads": a.threads, "seed": a.seed, "epoch_seconds": epoch_seconds,
        "train_neg_elbo": train_nelbo, "test_neg_elbo_per_epoch": test_nelbo,
        "test_neg_elbo": te[0], "test_rec": te[1], "test_kl": te[2],
    }
    if a.iw > 0:
        t0 = time.perf_counter()
        out["test_iw_nll"] = iwae_nll(model, xte, a.iw)
        out["iw_k"] = a.iw
        out["iw_seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


if __name__ == "__main__":
    main()
