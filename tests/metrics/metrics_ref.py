#!/usr/bin/env python3
"""Every metric of models/metrics recomputed independently with NumPy.

    metrics_ref.py METRICS_CASES_EXE

Runs the case writer (tests/metrics/metrics_cases.c) into a temporary
directory, recomputes each metric from the written inputs with plain NumPy
following the reference code's semantics (disentanglement_lib's mig.py,
sap_score.py, dci.py, beta_vae.py, factor_vae.py; rtqichen/beta-tcvae's
estimate_entropies and mi_metric.py), and compares:

  MIG (histogram and Chen's), the MI matrices, SAP, DCI     |C - NumPy| <= 1e-6
  beta-VAE and FactorVAE scores (from the recorded draws)  exactly equal

The classifier-based scores are recomputed from the rows the C code drew
(draws_*.csv): the draws are checked against the rules (one factor fixed
to the drawn class, a pair sharing its classes), then the features, the
logistic regression (its own Newton iterations to the unique optimum of
the same objective), the votes and the accuracies are NumPy's own.
Exit 0 when everything agrees, 1 otherwise, 77 (skip) without numpy.
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("metrics_ref: numpy is missing (scripts/install-deps.sh check installs python3-numpy): skipped")
    sys.exit(77)

TOL = 1e-6
INTERCEPT_L2 = 1e-8


def load(d, name):
    return np.loadtxt(os.path.join(d, name), delimiter=",", skiprows=1, ndmin=2)


# ---- MIG as disentanglement_lib ----

def discretize(x, bins):
    return np.digitize(x, np.histogram(x, bins)[1][:-1])


def mutual_info(a, b):
    """sklearn.metrics.mutual_info_score: sum p_ab log(p_ab / (p_a p_b)), clipped at 0."""
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    p = joint / len(a)
    outer = p.sum(axis=1, keepdims=True) * p.sum(axis=0, keepdims=True)
    nz = p > 0
    return max(0.0, float(np.sum(p[nz] * np.log(p[nz] / outer[nz]))))


def entropy(b):
    _, counts = np.unique(b, return_counts=True)
    p = counts / counts.sum()
    return float(-np.sum(p * np.log(p)))


def mig_hist(codes, classes, bins):
    d, nf = codes.shape[1], classes.shape[1]
    mi = np.array([[mutual_info(discretize(codes[:, j], bins), classes[:, k]) for k in range(nf)] for j in range(d)])
    h = np.array([entropy(classes[:, k]) for k in range(nf)])
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h)), mi


# ---- MIG as Chen et al. ----

def logsumexp(a, axis):
    m = a.max(axis=axis, keepdims=True)
    return np.squeeze(m, axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def entropy_estimate(mean, logvar, z, group, samples):
    """-1/S sum_s log(1/|G| sum_{i in G} q(z_s | x_i)), per dimension."""
    mu, lv, zs = mean[group], logvar[group], z[samples]
    a = -0.5 * (np.log(2 * np.pi) + lv[None] + (zs[:, None, :] - mu[None]) ** 2 * np.exp(-lv[None]))
    return -np.mean(logsumexp(a, axis=1) - np.log(len(group)), axis=0)


def mig_chen(mean, logvar, noise, order, classes, sizes, cap, mask):
    n, d = mean.shape
    nf = classes.shape[1]
    cap = n if cap == 0 or cap >= n else cap
    z = mean + np.exp(0.5 * logvar) * noise
    h_all = entropy_estimate(mean, logvar, z, np.arange(n), order[:cap])
    used = [k for k in range(nf) if mask == 0 or (mask >> k) & 1]
    mi = np.zeros((d, nf))
    for k in used:
        hc = np.zeros(d)
        for c in range(int(sizes[k])):
            group = np.nonzero(classes[:, k] == c)[0]
            if len(group) == 0:
                continue
            samples = np.array([r for r in order if classes[r, k] == c][:cap])
            hc += len(group) / n * entropy_estimate(mean, logvar, z, group, samples)
        mi[:, k] = h_all - hc
    gaps = []
    for k in used:
        top = np.clip(np.sort(mi[:, k])[::-1], 0, None)
        gaps.append((top[0] - top[1]) / entropy(classes[:, k]))
    return float(np.mean(gaps)), mi


# ---- SAP and DCI ----

def sap(codes, classes):
    d, nf = codes.shape[1], classes.shape[1]
    s = np.zeros((d, nf))
    for j in range(d):
        for k in range(nf):
            c = np.cov(codes[:, j], classes[:, k], ddof=1)
            s[j, k] = c[0, 1] ** 2 / (c[0, 0] * c[1, 1]) if c[0, 0] > 1e-12 else 0.0
    top = np.sort(s, axis=0)
    return float(np.mean(top[-1] - top[-2])), s


def scipy_entropy(p, base):
    p = p / p.sum()
    return float(-np.sum(p * np.log(p)) / np.log(base))


def dci(codes, classes, alpha, every):
    test = np.arange(len(codes)) % every == every - 1
    xtr, xte, ytr, yte = codes[~test], codes[test], classes[~test], classes[test]
    mu, sd = xtr.mean(axis=0), xtr.std(axis=0)
    keep = sd > 0

    def standardize(x):
        out = np.zeros_like(x)
        out[:, keep] = (x[:, keep] - mu[keep]) / sd[keep]
        return out

    str_, ste = standardize(xtr), standardize(xte)
    d, nf = codes.shape[1], classes.shape[1]
    r = np.zeros((d, nf))
    info, info_train = [], []
    for k in range(nf):
        my, sy = ytr[:, k].mean(), ytr[:, k].std()
        w = np.linalg.solve(str_.T @ str_ / len(str_) + alpha * np.eye(d), str_.T @ ((ytr[:, k] - my) / sy) / len(str_))
        r[:, k] = np.abs(w)

        def r2(s, y):
            ys = (y - my) / sy
            return 1 - np.sum((ys - s @ w) ** 2) / np.sum((ys - ys.mean()) ** 2)

        info.append(r2(ste, yte[:, k]))
        info_train.append(r2(str_, ytr[:, k]))
    m = r if r.sum() > 0 else np.ones_like(r)
    dis = sum(m[j].sum() / m.sum() * (1 - scipy_entropy(r[j] + 1e-11, nf)) for j in range(d))
    com = sum(m[:, k].sum() / m.sum() * (1 - scipy_entropy(r[:, k] + 1e-11, d)) for k in range(nf))
    return [dis, com, float(np.mean(info)), float(np.mean(info_train))], r


# ---- classifier-based scores from the recorded draws ----

def calls_of(draws):
    """Consecutive rows with the same call id: (factor, classes, rows) per call."""
    out, start = [], 0
    ids = draws[:, 0].astype(int)
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start]:
            block = draws[start:i]
            out.append((int(block[0, 1]), block[:, 2].astype(int), block[:, 3].astype(int)))
            start = i
    return out


def check_fixed(call, classes):
    factor, cls, rows = call
    if factor >= 0 and not np.all(classes[rows, factor] == cls):
        raise AssertionError("a drawn row does not have the fixed class")


def logreg_fit(x, y, nclass, l2):
    """Multinomial logistic regression, l2 on weights, INTERCEPT_L2 on intercepts: Newton to the optimum."""
    n, d = x.shape
    xa = np.hstack([x, np.ones((n, 1))])
    onehot = np.eye(nclass)[y]
    pen = np.tile(np.r_[np.full(d, l2), INTERCEPT_L2], nclass)
    theta = np.zeros(nclass * (d + 1))

    def objective(t):
        s = xa @ t.reshape(nclass, d + 1).T
        return float(np.sum(logsumexp(s, axis=1) - s[np.arange(n), y]) + 0.5 * np.sum(pen * t * t))

    f = objective(theta)
    for _ in range(100):
        s = xa @ theta.reshape(nclass, d + 1).T
        p = np.exp(s - logsumexp(s, axis=1)[:, None])
        grad = ((p - onehot).T @ xa).ravel() + pen * theta
        w = np.einsum("ik,kl->ikl", p, np.eye(nclass)) - np.einsum("ik,il->ikl", p, p)
        hess = np.einsum("ikl,ia,ib->kalb", w, xa, xa).reshape(nclass * (d + 1), -1) + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        for _ in range(60):
            new = theta - t * step
            f_new = objective(new)
            if f_new <= f:
                break
            t *= 0.5
        if not f_new <= f:
            break
        moved = np.max(np.abs(t * step) / (1 + np.abs(theta)))
        theta, f = new, f_new
        if moved < 1e-13:
            break
    return theta.reshape(nclass, d + 1)


def logreg_accuracy(theta, x, y):
    s = np.hstack([x, np.ones((len(x), 1))]) @ theta.T
    return float(np.mean(np.argmax(s, axis=1) == y))


def betavae(codes, classes, nf, draws, opts):
    batch, ntrain, neval, l2 = int(opts[0]), int(opts[1]), int(opts[2]), opts[3]
    calls = calls_of(draws)
    if len(calls) != 2 * (ntrain + neval):
        raise AssertionError(f"beta-VAE: {len(calls)} draws, expected {2 * (ntrain + neval)}")
    feats, labels = [], []
    for i in range(ntrain + neval):
        a, b = calls[2 * i], calls[2 * i + 1]
        if a[0] != b[0] or a[0] < 0 or not np.array_equal(a[1], b[1]) or len(a[2]) != batch:
            raise AssertionError("beta-VAE: a pair of batches does not share its fixed factor and classes")
        check_fixed(a, classes)
        check_fixed(b, classes)
        feats.append(np.mean(np.abs(codes[a[2]] - codes[b[2]]), axis=0))
        labels.append(a[0])
    x, y = np.array(feats), np.array(labels)
    theta = logreg_fit(x[:ntrain], y[:ntrain], nf, l2)
    return [logreg_accuracy(theta, x[:ntrain], y[:ntrain]), logreg_accuracy(theta, x[ntrain:], y[ntrain:])]


def factorvae(codes, classes, nf, draws, opts):
    batch, ntrain, neval, nvar, prune = int(opts[0]), int(opts[1]), int(opts[2]), int(opts[3]), opts[4]
    calls = calls_of(draws)
    if len(calls) != 1 + ntrain + neval or calls[0][0] != -1 or len(calls[0][2]) != nvar:
        raise AssertionError("FactorVAE: unexpected draws")
    d = codes.shape[1]
    gvar = np.var(codes[calls[0][2]], axis=0, ddof=1)
    active = (gvar > 0) & (np.sqrt(gvar) >= prune)
    if not active.any():
        return [0.0, 0.0, 0]
    idx = np.nonzero(active)[0]

    def votes(cs):
        v = np.zeros((nf, d), dtype=np.int64)
        for call in cs:
            if len(set(call[1])) != 1 or len(call[2]) != batch:
                raise AssertionError("FactorVAE: a batch without one fixed class")
            check_fixed(call, classes)
            lvar = np.var(codes[call[2]], axis=0, ddof=1)
            v[call[0], idx[np.argmin(lvar[idx] / gvar[idx])]] += 1
        return v

    vt, ve = votes(calls[1:1 + ntrain]), votes(calls[1 + ntrain:])
    clf = np.argmax(vt, axis=0)
    acc = [float(v[clf, np.arange(d)].sum()) / float(v.sum()) for v in (vt, ve)]
    return acc + [int(active.sum())]


# ---- comparison ----

def compare(case_dir):
    r = json.load(open(os.path.join(case_dir, "results.json")))
    codes, logvar, noise = (load(case_dir, f) for f in ("codes.csv", "logvar.csv", "noise.csv"))
    classes = load(case_dir, "classes.csv").astype(int)
    sizes = load(case_dir, "sizes.csv").astype(int)[0]
    order = load(case_dir, "order.csv").astype(int)[:, 0]
    nf = classes.shape[1]
    failures, report = [], []

    def close(name, c_value, ref):
        diff = float(np.max(np.abs(np.asarray(c_value, dtype=float).ravel() - np.asarray(ref, dtype=float).ravel())))
        report.append(f"{name} {diff:.1e}")
        if not diff <= TOL:
            failures.append(f"{name}: C {c_value} vs NumPy {np.asarray(ref).ravel().tolist()} (|diff| {diff:.3g})")

    def equal(name, c_value, ref):
        report.append(f"{name} {'=' if list(c_value) == list(ref) else '!='}")
        if list(c_value) != list(ref):
            failures.append(f"{name}: C {c_value} vs NumPy {ref}: expected equal")

    score, mi = mig_hist(codes, classes, r["bins"])
    close("mig_hist", r["mig_hist"], score)
    close("mi_hist", r["mi_hist"], mi)
    score, mi = mig_chen(codes, logvar, noise, order, classes, sizes, r["chen_samples"], r["chen_mask"])
    close("mig_chen", r["mig_chen"], score)
    close("mi_chen", r["mi_chen"], mi)
    score, s = sap(codes, classes)
    close("sap", r["sap"], score)
    close("sap_matrix", r["sap_matrix"], s)
    scores, imp = dci(codes, classes, r["dci_alpha"], r["dci_test_every"])
    close("dci", r["dci"], scores)
    close("dci_importance", r["dci_importance"], imp)
    equal("betavae", r["betavae"], betavae(codes, classes, nf, load(case_dir, "draws_betavae.csv"), r["betavae_opts"]))
    equal("factorvae", r["factorvae"],
          factorvae(codes, classes, nf, load(case_dir, "draws_factorvae.csv"), r["factorvae_opts"]))
    return failures, report


def main():
    if len(sys.argv) != 2:
        print("usage: metrics_ref.py METRICS_CASES_EXE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="elbo-metrics-") as tmp:
        subprocess.run([sys.argv[1], tmp], check=True)
        bad = 0
        for case in sorted(os.listdir(tmp)):
            failures, report = compare(os.path.join(tmp, case))
            print(f"{case}: " + ", ".join(report))
            for f in failures:
                print(f"  FAIL {case}: {f}")
            bad += len(failures)
    print("metrics_ref: " + ("all metrics agree with NumPy" if bad == 0 else f"{bad} disagreements"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
