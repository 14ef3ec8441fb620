#!/usr/bin/env python3
"""Fashion-MNIST (the IDX files) converted to the other forms --data reads,
written by NumPy and PIL (bench/data_formats_same_bits.sh trains on each):

    OUT/u8/{train,test}_{x,y}.npy       uint8 (N, 28, 28) images, int64 labels
    OUT/f32/{train,test}_x.npy          float32 v / 255 (labels: OUT/u8)
    OUT/fashion.npz                     x_train, y_train, x_test, y_test (np.savez_compressed)
    OUT/png/{train,test}/CLASS/NNNNN.png  PIL PNGs, one folder per class
    OUT/idx_by_class/                   the IDX files reordered as the PNG folder is read
                                        (torchvision ImageFolder order: by class, then by name),
                                        the reference the folder must train like

    /usr/bin/python3 bench/fashion_mnist_convert.py --data data/fashion-mnist --out runs/fashion-forms
"""
import argparse
import os
import struct

import numpy as np
from PIL import Image

CLASSES = ["0_tshirt", "1_trouser", "2_pullover", "3_dress", "4_coat", "5_sandal", "6_shirt", "7_sneaker", "8_bag",
           "9_boot"]  # sorted by name = sorted by label


def read_idx(path):
    with open(path, "rb") as f:
        data = f.read()
    rank = data[3]
    dims = struct.unpack(">" + "I" * rank, data[4:4 + 4 * rank])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def write_idx(path, a):
    with open(path, "wb") as f:
        f.write(bytes([0, 0, 8, a.ndim]) + struct.pack(">" + "I" * a.ndim, *a.shape) + a.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/fashion-mnist")
    ap.add_argument("--out", default="runs/fashion-forms")
    a = ap.parse_args()
    splits = {}
    for split, stem in (("train", "train"), ("test", "t10k")):
        x = read_idx(os.path.join(a.data, f"{stem}-images-idx3-ubyte"))
        y = read_idx(os.path.join(a.data, f"{stem}-labels-idx1-ubyte"))
        splits[split] = (x, y)
    for d in ("u8", "f32", "idx_by_class"):
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    for split, (x, y) in splits.items():
        np.save(os.path.join(a.out, "u8", f"{split}_x.npy"), x)
        np.save(os.path.join(a.out, "u8", f"{split}_y.npy"), y.astype(np.int64))
        np.save(os.path.join(a.out, "f32", f"{split}_x.npy"), x.astype(np.float32) / np.float32(255))
        # the PNG folder: file names keep the IDX order within a class
        for i, (img, label) in enumerate(zip(x, y)):
            d = os.path.join(a.out, "png", split, CLASSES[label])
            if i == 0 or not os.path.isdir(d):
                os.makedirs(d, exist_ok=True)
            Image.fromarray(img, "L").save(os.path.join(d, f"{i:05d}.png"), compress_level=6)
        order = np.argsort(y, kind="stable")
        stem = "train" if split == "train" else "t10k"
        write_idx(os.path.join(a.out, "idx_by_class", f"{stem}-images-idx3-ubyte"), x[order])
        write_idx(os.path.join(a.out, "idx_by_class", f"{stem}-labels-idx1-ubyte"), y[order])
    np.savez_compressed(os.path.join(a.out, "fashion.npz"), x_train=splits["train"][0], y_train=splits["train"][1],
                        x_test=splits["test"][0], y_test=splits["test"][1])
    print(f"wrote {a.out}/{{u8,f32,png,idx_by_class}}, {a.out}/fashion.npz")


if __name__ == "__main__":
    main()
