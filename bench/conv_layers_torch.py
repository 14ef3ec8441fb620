#!/usr/bin/env python3
"""PyTorch on the convolutions of the conv VAE, the peer of elbo_bench's conv/
rows (bench/ops/bench_conv.cc): batch 128, k4 s2 p1, each layer's forward,
input gradient and weight gradient timed on its own (torch's own NCHW layout,
its best). Prints one line per layer and pass: name, median microseconds,
GFLOP/s (2 * output pixels * k*k*cin * cout of the convolution, the same count
as elbo's). The gradients are timed through aten::convolution_backward, the op
autograd calls, one output at a time. Run through bench/peer-env so it is truly on the threads asked for:

    bench/peer-env 1 /usr/bin/python3 bench/conv_layers_torch.py --threads 1
"""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

# name, transposed, input h=w, cin, cout (as the model sees the layer)
LAYERS = [("enc1", False, 28, 1, 32), ("enc2", False, 14, 32, 64),
          ("dec1", True, 7, 64, 32), ("dec2", True, 14, 32, 1)]


def timed(fn, reps):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--reps", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    g = torch.Generator().manual_seed(1)
    for name, transposed, hw, cin, cout in LAYERS:
        x = torch.rand(a.batch, cin, hw, hw, generator=g) - 0.5
        if transposed:
            w = torch.rand(cin, cout, 4, 4, generator=g) - 0.5
            fwd = lambda x, w: F.conv_transpose2d(x, w, stride=2, padding=1)
        else:
            w = torch.rand(cout, cin, 4, 4, generator=g) - 0.5
            fwd = lambda x, w: F.conv2d(x, w, stride=2, padding=1)
        with torch.no_grad():
            y = fwd(x, w)
        # the convolution's own geometry: the larger image is its input
        big, small = (y, x) if transposed else (x, y)
        c_in = y.shape[1] if transposed else cin
        c_out = cin if transposed else cout
        flops = 2.0 * small.shape[0] * small.shape[2] * small.shape[3] * 16 * c_in * c_out
        dy = torch.rand(y.shape, generator=g) - 0.5
        # the two backward products alone, through the op autograd calls
        bwd = lambda mask: torch.ops.aten.convolution_backward(
            dy, x, w, None, [2, 2], [1, 1], [1, 1], transposed, [0, 0], 1, mask)
        with torch.no_grad():
            t_fwd = timed(lambda: fwd(x, w), a.reps)
            t_dgrad = timed(lambda: bwd([True, False, False]), a.reps)
            t_wgrad = timed(lambda: bwd([False, True, False]), a.reps)
        for p, t in (("fwd", t_fwd), ("dgrad", t_dgrad), ("wgrad", t_wgrad)):
            print(f"conv/{name}/{p} {t * 1e6:.1f} {flops / t * 1e-9:.2f}")


if __name__ == "__main__":
    main()
