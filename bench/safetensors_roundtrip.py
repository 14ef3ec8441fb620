#!/usr/bin/env python3
"""The PyTorch side of the safetensors round trip (bench/safetensors_roundtrip.sh).

MLPVAE is the nn.Module whose state_dict elbo's --export writes and --init
reads (models/vae/vae_safetensors.h has the name and layout table):

    encoder   Sequential(Linear(D+C, h1), act, Linear(h1, h2), act, ...)
    fc_mu     Linear(h_last, Z)        elbo's fused (H, 2Z) head, first Z columns, transposed
    fc_logvar Linear(h_last, Z)        ... last Z columns
    decoder   Sequential(Linear(Z+C, h_last), act, ..., Linear(h1, D))   logits
    lik_logvar  (D,) parameter, only for a learned Gaussian variance (not used here)

A conditional model concatenates one-hot labels to the encoder and decoder
inputs (torch.cat([x, y], 1)). ConvVAE (--encoder SPEC, elbo's spec) is the
convolutional model: Conv2d / Linear layers at encoder.{2i}, the mirrored
ConvTranspose2d / Linear at decoder.{2j}, NCHW inside, flattened CHW. The safetensors file is read and written here
by an independent ~30-line implementation over json and numpy, so the round
trip tests elbo's reader and writer against another one.

The test negative ELBO both sides compare is evaluated with the same fixed
noise eps (a float32 .npy of (test examples, Z) standard normals): z = mu +
exp(logvar / 2) * eps, Bernoulli log-likelihood of the [0,1] pixels from the
decoder's logits, closed-form KL. Same weights and same eps make the two
numbers the same function of the same inputs, so they may differ only by
float32 summation order (relative 1e-6 or so); a layout error (a transposed
weight, swapped mu/logvar heads, a bias in the wrong place) moves them by
percents.

    evaluate   --weights W.safetensors --eps EPS.npy      print the test -ELBO of W (JSON)
    train      --out W.safetensors --eps EPS.npy          train a MLPVAE (ConvVAE with --encoder), save it,
                                                          print its test -ELBO
    make-eps   --out EPS.npy --latent Z                   the noise
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


# ---- data ----

def read_idx(path, images=True):
    with open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    a = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)
    return a.reshape(dims[0], -1) if images else a


def load_split(data, split):
    x = read_idx(os.path.join(data, f"{split}-images-idx3-ubyte"))
    y = read_idx(os.path.join(data, f"{split}-labels-idx1-ubyte"), images=False)
    # (float)v / 255.0f, as elbo converts
    return torch.from_numpy(x.astype(np.float32) / np.float32(255.0)), torch.from_numpy(y.astype(np.int64))


# ---- safetensors (an independent reader and writer) ----

DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8"), "F16": np.dtype("<f2"), "I64": np.dtype("<i8")}


def st_load(path):
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        if t["dtype"] == "BF16":
            raw = np.frombuffer(buf[base + b:base + e], dtype="<u2").astype(np.uint32) << 16
            a = raw.view(np.float32)
        else:
            a = np.frombuffer(buf[base + b:base + e], dtype=DTYPES[t["dtype"]])
        out[name] = torch.from_numpy(a.astype(np.float32).reshape(t["shape"]).copy())
    return out, meta


def st_save(path, tensors, meta):
    header, blobs, at = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        a = t.detach().cpu().numpy().astype("<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [at, at + a.nbytes]}
        blobs.append(a.tobytes())
        at += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
    os.replace(tmp, path)


# ---- the model ----

class MLPVAE(nn.Module):
    def __init__(self, d=784, hidden=(400,), z=20, classes=0):
        super().__init__()
        self.classes = classes
        enc, inp = [], d + classes
        for h in hidden:
            enc += [nn.Linear(inp, h), nn.ReLU()]
            inp = h
        self.encoder = nn.Sequential(*enc)
        self.fc_mu = nn.Linear(inp, z)
        self.fc_logvar = nn.Linear(inp, z)
        dec, inp = [], z + classes
        for h in reversed(hidden):
            dec += [nn.Linear(inp, h), nn.ReLU()]
            inp = h
        dec += [nn.Linear(inp, d)]
        self.decoder = nn.Sequential(*dec)

    def cond(self, v, y):
        return torch.cat([v, F.one_hot(y, self.classes).float()], 1) if self.classes else v

    def encode(self, x, y):
        h = self.encoder(self.cond(x, y))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z, y):
        return self.decoder(self.cond(z, y))

    def neg_elbo_terms(self, x, y, eps):
        mu, logvar = self.encode(x, y)
        z = mu + torch.exp(0.5 * logvar) * eps
        rec = F.binary_cross_entropy_with_logits(self.decode(z, y), x, reduction="sum")
        kl = 0.5 * torch.sum(logvar.exp() + mu.pow(2) - 1 - logvar)
        return rec, kl


def parse_spec(spec):
    """elbo's encoder spec: conv:C:K:S[:P] (P default (K - S + 1) // 2) and dense:W."""
    out = []
    for item in spec.split(","):
        f = item.split(":")
        if f[0] == "conv":
            c, k, s = int(f[1]), int(f[2]), int(f[3])
            out.append(("conv", c, k, s, int(f[4]) if len(f) > 4 else max(0, (k - s + 1) // 2)))
        else:
            out.append(("dense", int(f[1])))
    return out


class ConvVAE(nn.Module):
    """The convolutional VAE of elbo's --encoder SPEC: layers i at encoder.{2i} (odd
    indices: the ReLUs), the mirrored decoder at decoder.{2j}; images are NCHW here
    and flattened CHW, the data's rows HWC (one channel: the same order)."""

    def __init__(self, spec, image=(28, 28, 1), z=20, classes=0):
        super().__init__()
        self.classes, self.image = classes, image
        self.layers = parse_spec(spec)
        h, w, c = image
        shapes = [(c, h, w)]  # input of layer i: (C, H, W) or (features,)
        enc, self.y_at = {}, len(self.layers)
        flat = lambda s: s[0] * s[1] * s[2] if len(s) == 3 else s[0]
        for i, l in enumerate(self.layers):
            s = shapes[-1]
            if l[0] == "conv":
                _, co, k, st, p = l
                enc[str(2 * i)] = nn.Conv2d(s[0], co, k, st, p)
                shapes.append((co, (s[1] + 2 * p - k) // st + 1, (s[2] + 2 * p - k) // st + 1))
            else:
                if self.y_at == len(self.layers):
                    self.y_at = i
                enc[str(2 * i)] = nn.Linear(flat(s) + (classes if self.y_at == i else 0), l[1])
                shapes.append((l[1],))
        self.shapes = shapes
        self.encoder = nn.ModuleDict(enc)
        n = len(self.layers)
        fin = flat(shapes[n]) + (classes if self.y_at == n else 0)
        self.fc_mu, self.fc_logvar = nn.Linear(fin, z), nn.Linear(fin, z)
        dec = {"0": nn.Linear(z + classes, flat(shapes[n]))}
        for j in range(1, n + 1):
            i = n - j
            l, sin, sout = self.layers[i], shapes[i], shapes[i + 1]
            if l[0] == "conv":
                _, co, k, st, p = l
                op = (sin[1] - ((sout[1] - 1) * st - 2 * p + k), sin[2] - ((sout[2] - 1) * st - 2 * p + k))
                dec[str(2 * j)] = nn.ConvTranspose2d(co, sin[0], k, st, p, output_padding=op)
            else:
                dec[str(2 * j)] = nn.Linear(l[1], flat(sin))
        self.decoder = nn.ModuleDict(dec)

    def cond(self, v, y):
        return torch.cat([v, F.one_hot(y, self.classes).float()], 1) if self.classes else v

    def encode(self, x, y):
        h0, w0, c0 = self.image
        h = x.reshape(-1, h0, w0, c0).permute(0, 3, 1, 2)
        for i, l in enumerate(self.layers):
            if l[0] == "dense":
                h = h.flatten(1)
                if self.y_at == i:
                    h = self.cond(h, y)
            h = F.relu(self.encoder[str(2 * i)](h))
        h = h.flatten(1)
        if self.y_at == len(self.layers):
            h = self.cond(h, y)
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z, y):
        n = len(self.layers)
        h = self.decoder["0"](self.cond(z, y))
        for j in range(1, n + 2):
            target = self.shapes[n - j + 1]
            if len(target) == 3 and h.dim() == 2:
                h = h.reshape(-1, *target)
            if j == n + 1:
                break
            h = self.decoder[str(2 * j)](F.relu(h))
        return h.permute(0, 2, 3, 1).flatten(1) if h.dim() == 4 else h

    neg_elbo_terms = MLPVAE.neg_elbo_terms


@torch.no_grad()
def evaluate(model, x, y, eps, batch=1000):
    rec_t = kl_t = 0.0
    for i in range(0, x.shape[0], batch):
        rec, kl = model.neg_elbo_terms(x[i:i + batch], y[i:i + batch], eps[i:i + batch])
        rec_t += rec.item()
        kl_t += kl.item()
    n = x.shape[0]
    return {"test_neg_elbo_fixed_noise": (rec_t + kl_t) / n, "test_rec_fixed_noise": rec_t / n,
            "test_kl_fixed_noise": kl_t / n}


def model_for(state, classes):
    """An MLPVAE shaped like the tensors in state."""
    dec_w = sorted((int(k.split(".")[1]), v) for k, v in state.items() if k.startswith("decoder.") and k.endswith("weight"))
    enc_w = sorted((int(k.split(".")[1]), v) for k, v in state.items() if k.startswith("encoder.") and k.endswith("weight"))
    d = dec_w[-1][1].shape[0]
    z = state["fc_mu.weight"].shape[0]
    hidden = tuple(w.shape[0] for _, w in enc_w)
    return MLPVAE(d, hidden, z, classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["evaluate", "train", "make-eps"])
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--weights", help="evaluate: the safetensors file")
    ap.add_argument("--out", help="train: where to save the weights; make-eps: the .npy")
    ap.add_argument("--eps", help="the fixed noise (.npy, test examples x Z)")
    ap.add_argument("--classes", type=int, default=0, help="a conditional model of this many classes")
    ap.add_argument("--hidden", default="400")
    ap.add_argument("--encoder", default="", help="a convolutional model: elbo's --encoder spec")
    ap.add_argument("--latent", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    if a.mode == "make-eps":
        n = read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte")).shape[0]
        np.save(a.out, np.random.default_rng(a.seed).standard_normal((n, a.latent)).astype(np.float32))
        return

    xte, yte = load_split(a.data, "t10k")
    eps = torch.from_numpy(np.load(a.eps))
    if a.mode == "evaluate":
        state, meta = st_load(a.weights)
        model = ConvVAE(a.encoder, (28, 28, 1), a.latent, a.classes) if a.encoder else model_for(state, a.classes)
        model.load_state_dict(state, strict=True)  # every name and shape must match
        out = evaluate(model, xte, yte, eps)
        out["metadata"] = meta
        print(json.dumps(out))
        return

    # train: a short PyTorch training, then save in the layout elbo reads
    xtr, ytr = load_split(a.data, "train")
    hidden = tuple(int(h) for h in a.hidden.split(","))
    model = (ConvVAE(a.encoder, (28, 28, 1), a.latent, a.classes) if a.encoder
             else MLPVAE(xtr.shape[1], hidden, a.latent, a.classes))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(a.epochs):
        perm = torch.randperm(xtr.shape[0])
        for i in range(0, xtr.shape[0], 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            rec, kl = model.neg_elbo_terms(xtr[idx], ytr[idx], torch.randn(len(idx), a.latent))
            (rec + kl).backward()
            opt.step()
    st_save(a.out, model.state_dict(), {"format": "pt", "trained_by": "bench/safetensors_roundtrip.py"})
    out = evaluate(model, xte, yte, eps)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
