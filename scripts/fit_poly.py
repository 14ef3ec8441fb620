#!/usr/bin/env python3
"""Fit the polynomial coefficients of ops/simd_math.h that are not Cephes'.

  scripts/fit_poly.py exp 4      e^r = 1 + r + r^2 P(r), r in [-ln2/2, ln2/2]
  scripts/fit_poly.py log1p 7    log1p(x) = x + x^2 Q(x), x in [0, 1]

Minimax in relative error by Lawson's iteratively reweighted least squares,
then rounded to float. Prints the double-precision error of the fit and the
coefficients, highest degree first (the order of the tables in simd_math.h).
The float error bounds are asserted by tests/ops/test_simd_math.c."""
import sys

import numpy as np


def lawson(A, b, iters=300):
    w = np.ones(len(b))
    for _ in range(iters):
        sw = np.sqrt(w)
        c, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
        e = np.abs(A @ c - b)
        w = w * e
        w /= w.sum()
    return c, np.abs(A @ c - b).max()


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("exp", "log1p"):
        sys.exit("usage: fit_poly.py exp|log1p DEGREE")
    kind, deg = sys.argv[1], int(sys.argv[2])
    if kind == "exp":
        h = np.log(2) / 2
        x = np.linspace(-h, h, 20001)
        f = np.exp(x)
        rest = f - 1 - x  # = x^2 P(x)
    else:
        x = np.linspace(1e-6, 1, 20001)
        f = np.log1p(x)
        rest = f - x  # = x^2 Q(x)
    # relative error of the whole function: divide rows by f
    A = np.vstack([x ** (k + 2) for k in range(deg + 1)]).T / f[:, None]
    c, err = lawson(A, rest / f)
    print(f"{kind} degree {deg}: max relative error {err:.3g}")
    print(", ".join(repr(float(v)) + "f" for v in c.astype(np.float32)[::-1]))


if __name__ == "__main__":
    main()
