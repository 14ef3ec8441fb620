#!/usr/bin/env python3
"""The alpha-beta model of docs/SCALING.md: epoch time of data-parallel VAE
training on P nodes, for the dense 784-400-20 VAE and the conv VAE, at 10 and
100 Gb/s, without overlap and with the buckets vae --mpi forms.

    scripts/scaling_model.py [--step-ms 3.35] [--opt-ms 0.18]

Inputs (measured on this project's machine, one thread; see SCALING.md):
  --step-ms  forward + backward + update of one 128-example step, 1 rank
  --opt-ms   the part of it that does not shrink with P (Adam over the whole
             slab and the non-finite check: every rank updates every parameter)
The conv VAE's compute is scaled from the dense one by its multiply-adds
(the same rate assumed), its update time by its parameter count.

Per step on P nodes, global batch 128 split P ways:
  t_fwd + t_bwd = (step - opt) / P, split by the multiply-adds of each pass;
  bucket k (bytes S_k) is final once backward has passed its layers (a
  fraction of t_bwd, from the multiply-adds of the layers after it) and
  takes T_k = 2 (P-1) alpha + 2 (P-1)/P S_k / B on the link, buckets one
  after another; what runs past the end of backward is exposed;
  step = t_fwd + t_bwd + exposed + opt; no overlap: one bucket after backward.
"""
import argparse

STEPS = 469  # 60,000 / 128
MIN_BUCKET = 16384  # floats: experiments/common/data_parallel.c
NETS = {"10 Gb/s (TCP)": (25e-6, 1.25e9), "100 Gb/s (RDMA)": (3e-6, 12.5e9)}
NODES = [1, 2, 4, 8, 16, 32, 64]


def dense(n_in, n_out, dx=True):
    """A dense layer: (name, parameters, multiply-adds per example, has an input gradient)."""
    return (n_in * n_out + n_out, n_in * n_out, dx)


def conv(hw_out, k, c_in, c_out, dx=True):
    """A convolution (or transposed one: pass the larger side's size): weights and MACs per example."""
    return (k * k * c_in * c_out + c_out, hw_out * hw_out * k * k * c_in * c_out, dx)


def pad16(n):
    return (n + 15) // 16 * 16


MODELS = {
    # forward order; weight and bias of a layer become ready together
    "dense 784-400-20": [dense(784, 400, dx=False), dense(400, 40), dense(20, 400), dense(400, 784)],
    # 28x28x1: conv 32 k4 s2 (14x14), conv 64 k4 s2 (7x7), dense 3136-256, head 256-40;
    # decoder 20-256, 256-3136, convT 64->32 (14x14), convT 32->1 (28x28)
    "conv (32-64 k4 s2, 256, z 20)": [
        conv(14, 4, 1, 32, dx=False), conv(7, 4, 32, 64), dense(3136, 256), dense(256, 40),
        dense(20, 256), dense(256, 3136), conv(7, 4, 32, 64), conv(14, 4, 1, 32),
    ],
}
# transposed convolutions: the parameters are (k,k,Cout,Cin) and the MACs those of the
# convolution from the output back to the input, which conv() above computes from the
# smaller side; fix the bias sizes (Cout of the transposed layer)
MODELS["conv (32-64 k4 s2, 256, z 20)"][6] = (4 * 4 * 64 * 32 + 32, 7 * 7 * 4 * 4 * 32 * 64, True)
MODELS["conv (32-64 k4 s2, 256, z 20)"][7] = (4 * 4 * 32 * 1 + 1, 14 * 14 * 4 * 4 * 1 * 32, True)


def plan(layers, nbuckets=4):
    """Buckets as plan_buckets builds them (whole parameters, last first); each
    parameter is a layer's weight then its bias (biases are small: kept with it).
    Returns [(floats, index of the earliest layer in it)], in the order they become ready."""
    params = []
    for i, (n, _, _) in enumerate(layers):
        params.append((i, pad16(n)))
    total = sum(n for _, n in params)
    cap = -(-total // nbuckets)
    out, cur, first = [], 0, None
    for i, n in reversed(params):
        if cur >= MIN_BUCKET and cur + n > cap + cap // 2:
            out.append((cur, first))
            cur = 0
        cur += n
        first = i
        if cur >= cap:
            out.append((cur, first))
            cur = 0
    if cur:
        out.append((cur, first))
    return out, total


def model(layers, step_ms, opt_ms, flop_scale, p, alpha, bw, overlap):
    fwd = sum(m for _, m, _ in layers)
    bwd_of = [m * (2 if dx else 1) for _, m, dx in layers]
    bwd = sum(bwd_of)
    t_fb = (step_ms - opt_ms) * 1e-3 * flop_scale / p
    t_fwd, t_bwd = t_fb * fwd / (fwd + bwd), t_fb * bwd / (fwd + bwd)
    buckets, total = plan(layers)
    if not overlap:
        buckets = [(total, 0)]
    comm = lambda floats: 0.0 if p == 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * floats * 4 / bw
    link_free, comm_total = 0.0, 0.0
    for floats, first in buckets:
        ready = t_bwd * sum(bwd_of[first:]) / bwd if overlap else t_bwd
        start = max(ready, link_free)
        link_free = start + comm(floats)
        comm_total += comm(floats)
    exposed = max(0.0, link_free - t_bwd)
    return t_fwd + t_bwd + exposed, exposed, comm_total, t_fb


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step-ms", type=float, default=3.35)
    ap.add_argument("--opt-ms", type=float, default=0.18)
    args = ap.parse_args()
    dense_layers = MODELS["dense 784-400-20"]
    dense_macs = sum(3 * m if dx else 2 * m for _, m, dx in dense_layers)
    for name, layers in MODELS.items():
        n = sum(pad16(k) for k, _, _ in layers)
        macs = sum(m for _, m, _ in layers)
        train_macs = sum(3 * m if dx else 2 * m for _, m, dx in layers)
        scale = train_macs / dense_macs
        opt = args.opt_ms * n / sum(pad16(k) for k, _, _ in dense_layers)
        buckets, _ = plan(layers)
        print(f"### {name}\n\n{sum(k for k, _, _ in layers):,} parameters ({n:,} floats in the slab, "
              f"{n * 4 / 1e6:.2f} MB of gradient), forward {2 * macs * 128 / 1e9:.3f} GFLOP and training step "
              f"{2 * train_macs * 128 / 1e9:.3f} GFLOP per batch of 128; step at 1 thread "
              f"{(args.step_ms - args.opt_ms) * scale + opt:.2f} ms ({opt:.2f} ms update)")
        print("\nbuckets, in the order backward finishes them: "
              + ", ".join(f"{f:,} floats (from layer {i})" for f, i in buckets))
        for net, (alpha, bw) in NETS.items():
            print(f"\n**{net}**: alpha {alpha * 1e6:.0f} us, {bw / 1e9:.2f} GB/s\n")
            print("| nodes | compute/step | allreduce/step | epoch, no overlap | epoch, buckets | exposed (buckets) | speed-up (buckets) |")
            print("|---|---|---|---|---|---|---|")
            base = None
            for p in NODES:
                t0, _, c, t_fb = model(layers, args.step_ms, opt, scale, p, alpha, bw, overlap=False)
                t1, exp1, _, _ = model(layers, args.step_ms, opt, scale, p, alpha, bw, overlap=True)
                e0, e1 = STEPS * (t0 + opt * 1e-3), STEPS * (t1 + opt * 1e-3)
                base = base or e1
                dom = " (comm > compute)" if c > t_fb else ""
                print(f"| {p} | {t_fb * 1e3:.3f} ms | {c * 1e3:.3f} ms{dom} | {e0:.2f} s | {e1:.2f} s | "
                      f"{exp1 * 1e3:.3f} ms | {base / e1:.2f}x |")
        print()


if __name__ == "__main__":
    main()
