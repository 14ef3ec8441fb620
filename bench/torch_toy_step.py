#!/usr/bin/env python3
"""PyTorch reference for elbo's vae_toy_step benchmark (bench/autodiff/bench_toy.cc).

The same toy VAE as models/toy_vae.h: 2-D points on a noisy half-circle, a 1-D
latent, encoder and decoder each two hidden layers of 32 tanh units (the
encoder's head gives mu | logvar), a Gaussian likelihood with sigma 0.1, the
batch-mean negative ELBO, Adam (lr 1e-3), batch 64, one thread. One step is
zero_grad + forward (with torch.randn_like noise) + backward + Adam, on a
fixed batch, as in the C benchmark.

Prints the median wall and CPU time per step in microseconds (after warm-up),
over --reps timed steps.

    python3 bench/torch_toy_step.py [--reps 5000] [--warmup 500]
"""
import argparse
import math
import statistics
import time

import torch
from torch import nn

X_DIM, Z_DIM, HIDDEN, SIGMA, BATCH = 2, 1, 32, 0.1, 64


class ToyVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(X_DIM, HIDDEN), nn.Tanh(),
                                 nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
                                 nn.Linear(HIDDEN, 2 * Z_DIM))
        self.dec = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.Tanh(),
                                 nn.Linear(HIDDEN, HIDDEN), nn.Tanh(),
                                 nn.Linear(HIDDEN, X_DIM))
        self.logvar_x = 2.0 * math.log(SIGMA)

    def loss(self, x):
        head = self.enc(x)
        mu, logvar = head[:, :Z_DIM], head[:, Z_DIM:]
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        mean = self.dec(z)
        # -log N(x; mean, sigma^2 I) and KL(q(z|x) || N(0, I)), per example
        nll = 0.5 * (math.log(2 * math.pi) + self.logvar_x
                     + (x - mean) ** 2 * math.exp(-self.logvar_x)).sum(dim=1)
        kl = 0.5 * (torch.exp(logvar) + mu ** 2 - 1.0 - logvar).sum(dim=1)
        return (nll + kl).mean()


def arc(n, gen):
    a = math.pi * torch.rand(n, generator=gen)
    x = torch.stack([torch.cos(a), torch.sin(a)], dim=1)
    return x + 0.05 * torch.randn(n, 2, generator=gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = ToyVAE()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = arc(BATCH, torch.Generator().manual_seed(args.seed + 1))

    def step():
        opt.zero_grad()
        loss = model.loss(x)
        loss.backward()
        opt.step()
        return loss

    for _ in range(args.warmup):
        step()
    wall, cpu = [], []
    for _ in range(args.reps):
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        loss = step()
        c1, w1 = time.process_time_ns(), time.perf_counter_ns()
        wall.append((w1 - w0) / 1e3)
        cpu.append((c1 - c0) / 1e3)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, reps {args.reps}, "
          f"final loss {loss.item():.4f}")
    print(f"torch_toy_step median: {statistics.median(wall):.1f} us wall, "
          f"{statistics.median(cpu):.1f} us cpu")


if __name__ == "__main__":
    main()
