#!/usr/bin/env python3
"""The dSprites network of experiments/disentangle_dsprites in PyTorch 1.13 on CPU,
trained on the very batches the elbo driver trained on, for the throughput bar.

Networks (experiments/dsprites_setup.h, models/vae/net.c), ReLU, Bernoulli logits:
  --arch mlp: encoder 4096-1200-1200-(mu, log-variance of 10), decoder
              10-1200-1200-4096;
  --arch conv: encoder conv 32, 32, 64, 64 (k4 s2 p1) to 4x4x64, dense 256,
              head; decoder dense 256, dense 1024, transposed convs 64, 32,
              32, 1 (k4 s2 p1) back to 64x64.
Loss per batch summed over images: BCE-with-logits + beta * closed-form KL;
Adam lr 1e-3; PyTorch's default initialisation. The batches are the elbo driver's
--export-batches file, uint8 (steps, batch, 4096), converted to float per step
as the driver renders floats per step.

Prints one JSON object: steps, batch, training seconds (every step, as the
elbo driver counts them), images per second, the median step time and the
train -ELBO per image averaged over the last 100 steps (as the driver).

    bench/peer-env 1 /usr/bin/python3 bench/dsprites_vs_torch.py --batches b.npy --threads 1 [--arch conv]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLPVAE(nn.Module):
    def __init__(self, d=4096, h=1200, z=10):
        super().__init__()
        self.e1, self.e2 = nn.Linear(d, h), nn.Linear(h, h)
        self.mu, self.lv = nn.Linear(h, z), nn.Linear(h, z)
        self.d1, self.d2, self.out = nn.Linear(z, h), nn.Linear(h, h), nn.Linear(h, d)

    def forward(self, x):
        h = F.relu(self.e2(F.relu(self.e1(x))))
        mu, lv = self.mu(h), self.lv(h)
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        return self.out(F.relu(self.d2(F.relu(self.d1(z))))), mu, lv


class ConvVAE(nn.Module):
    def __init__(self, z=10):
        super().__init__()
        ch = [1, 32, 32, 64, 64]
        self.enc = nn.ModuleList(nn.Conv2d(ch[i], ch[i + 1], 4, 2, 1) for i in range(4))
        self.fc, self.head = nn.Linear(1024, 256), nn.Linear(256, 2 * z)
        self.d0, self.d1 = nn.Linear(z, 256), nn.Linear(256, 1024)
        self.dec = nn.ModuleList(nn.ConvTranspose2d(ch[i + 1], ch[i], 4, 2, 1) for i in reversed(range(4)))
        self.z = z

    def forward(self, x):
        h = x.view(-1, 1, 64, 64)
        for c in self.enc:
            h = F.relu(c(h))
        p = self.head(F.relu(self.fc(h.flatten(1))))
        mu, lv = p[:, :self.z], p[:, self.z:]
        z = mu + torch.exp(0.5 * lv) * torch.randn_like(mu)
        h = F.relu(self.d1(F.relu(self.d0(z)))).view(-1, 64, 4, 4)
        for i, c in enumerate(self.dec):
            h = c(h)
            if i < 3:
                h = F.relu(h)
        return h.flatten(1), mu, lv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", required=True, help="uint8 .npy (steps, batch, 4096) from --export-batches")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--arch", choices=["mlp", "conv"], default="mlp")
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    data = np.load(a.batches, mmap_mode="r")
    if data.dtype != np.uint8 or data.ndim != 3 or data.shape[2] != 4096:
        raise SystemExit(f"{a.batches}: expected uint8 (steps, batch, 4096), got {data.dtype} {data.shape}")
    steps, batch = data.shape[0], data.shape[1]
    model = MLPVAE() if a.arch == "mlp" else ConvVAE()
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    times, tail = [], []
    for s in range(steps):
        t0 = time.perf_counter()
        x = torch.from_numpy(np.array(data[s])).float()
        logits, mu, lv = model(x)
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = -0.5 * torch.sum(1 + lv - mu.pow(2) - lv.exp())
        loss = rec + a.beta * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
        tail.append((rec.item() + kl.item()) / batch)
    total = sum(times)
    print(json.dumps({"peer": f"pytorch {torch.__version__}", "arch": a.arch, "threads": a.threads, "steps": steps, "batch": batch,
                      "seconds": total, "images_per_s": steps * batch / total,
                      "median_step_s": statistics.median(times), "last_train_neg_elbo": statistics.mean(tail[-100:])}))


if __name__ == "__main__":
    main()
