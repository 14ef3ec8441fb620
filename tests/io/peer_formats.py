#!/usr/bin/env python3
"""Files written by other tools, read by elbo; files written by elbo, read by them.

    peer_formats.py IO_PROBE

PNG: PIL writes every mode it has (L, LA, RGB, RGBA, P, 1-bit, 16-bit gray)
at compression levels 0, 1, 6 and 9 and with optimize; a small writer here
(Python's zlib) writes every filter type explicitly and Adam7-interlaced
images (PIL writes neither), checked by PIL too; elbo must decode all of them
to the samples PIL reads. Then elbo's own PNGs (every channel count) must
decode in PIL to exactly what was encoded.

NumPy: np.save of every dtype the readers take (both byte orders), 2-D, 3-D,
NHWC and NCHW arrays, np.savez and np.savez_compressed archives; elbo must
load the same numbers numpy holds (uint8 as v / 255 in float32). Fortran-
order and structured arrays must be refused with one line.

Needs /usr/bin/python3 with numpy and PIL (scripts/install-deps.sh io)."""
import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    from PIL import Image
except ImportError as e:  # a missing peer is a failure, not a skip
    sys.exit(f"peer_formats: {e}: install NumPy and PIL with scripts/install-deps.sh io")

PROBE = sys.argv[1]
TMP = tempfile.mkdtemp(prefix="elbo-peer-")
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED", what)


def probe_pngs(paths):
    """Decode many files in one io_probe process: a list of (array or None, error)."""
    out = os.path.join(TMP, "decoded")
    os.makedirs(out, exist_ok=True)
    r = subprocess.run([PROBE, "pngs", out, *paths], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != len(paths):
        return [(None, r.stderr.strip())] * len(paths)
    res = []
    for k, line in enumerate(lines):
        if line.startswith("error"):
            res.append((None, line))
            continue
        w, h, c = map(int, line.split())
        res.append((np.fromfile(os.path.join(out, f"{k}.raw"), dtype=np.uint8).reshape(h, w, c), ""))
    return res


def probe_png(path):
    raw = os.path.join(TMP, "out.raw")
    r = subprocess.run([PROBE, "png", path, raw], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    w, h, c = map(int, r.stdout.split())
    return np.fromfile(raw, dtype=np.uint8).reshape(h, w, c), ""


def expected_from_pil(path):
    """What elbo's decoder promises for this file, from PIL's reading of it."""
    im = Image.open(path)
    if im.mode == "P":
        return np.asarray(im.convert("RGB"))
    if im.mode == "1":
        return (np.asarray(im, dtype=np.uint8) * 255)[..., None]
    if im.mode in ("I;16", "I;16B", "I"):
        a = np.asarray(im).astype(np.uint64)
        return ((a * 255 + 32767) // 65535).astype(np.uint8)[..., None]
    a = np.asarray(im)
    return a if a.ndim == 3 else a[..., None]


def images():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:37, 0:29]
    smooth = ((np.sin(xx / 5.0) + np.cos(yy / 7.0) + 2) * 60).astype(np.uint8)
    noise = rng.integers(0, 256, (37, 29), dtype=np.uint8)
    return smooth, noise


# ---- PNG written by PIL ----
def pil_pngs():
    smooth, noise = images()
    out = []
    for name, base in (("smooth", smooth), ("noise", noise)):
        rgb = np.stack([base, base[::-1], np.roll(base, 5, 1)], -1)
        variants = {
            "L": Image.fromarray(base, "L"),
            "LA": Image.fromarray(np.stack([base, 255 - base], -1), "LA"),
            "RGB": Image.fromarray(rgb, "RGB"),
            "RGBA": Image.fromarray(np.concatenate([rgb, base[..., None]], -1), "RGBA"),
            "P": Image.fromarray(rgb, "RGB").quantize(colors=200),
            "1": Image.fromarray(base > 128).convert("1"),
            "I16": Image.fromarray(base.astype(np.uint16) * 257 + 3, "I;16"),
        }
        for mode, im in variants.items():
            for level in (0, 1, 6, 9):
                for optimize in (False, True):
                    p = os.path.join(TMP, f"pil_{name}_{mode}_{level}_{int(optimize)}.png")
                    im.save(p, "PNG", compress_level=level, optimize=optimize)
                    out.append(p)
    return out


# ---- PNG written here: explicit filters, Adam7 ----
def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def filter_rows(rows, bpp, filters):
    out, prev = b"", bytes(len(rows[0])) if rows else b""
    for i, row in enumerate(rows):
        f = filters[i % len(filters)]
        r = bytearray()
        for x in range(len(row)):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
            r.append((row[x] - pred) & 255)
        out += bytes([f]) + bytes(r)
        prev = row
    return out


def chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


ADAM7 = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]


def write_png(path, a, color, depth, interlace, filters, level, palette=None):
    """a: (h, w, samples) array of the file's samples (uint8 or uint16, or palette indices)."""
    h, w, s = a.shape
    def pack(rowvals):
        if depth == 16:
            return b"".join(struct.pack(">H", int(v)) for v in rowvals)
        if depth == 8:
            return bytes(int(v) for v in rowvals)
        bits = "".join(format(int(v), f"0{depth}b") for v in rowvals)
        bits += "0" * (-len(bits) % 8)
        return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    bpp = max(1, s * depth // 8)
    raw = b""
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    for (y0, x0, dy, dx) in passes:
        sub = a[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        rows = [pack(sub[y].reshape(-1)) for y in range(sub.shape[0])]
        raw += filter_rows(rows, bpp, filters)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, interlace))
    if palette is not None:
        png += chunk(b"PLTE", palette.tobytes())
    png += chunk(b"tEXt", b"Comment\x00ancillary chunks are skipped")
    z = zlib.compress(raw, level)
    png += chunk(b"IDAT", z[:len(z) // 2]) + chunk(b"IDAT", z[len(z) // 2:])  # split over two IDATs
    png += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def handmade_pngs():
    smooth, noise = images()
    rng = np.random.default_rng(5)
    cases = []
    for (h, w) in ((1, 1), (3, 5), (9, 17), (37, 29)):
        base = smooth[:h, :w]
        for color, s in ((0, 1), (2, 3), (4, 2), (6, 4)):
            a = np.stack([np.roll(base, k, 1) for k in range(s)], -1)
            for interlace in (0, 1):
                for filters in ([0], [1], [2], [3], [4], [0, 1, 2, 3, 4]):
                    cases.append((f"{h}x{w}_c{color}_d8_i{interlace}_f{''.join(map(str, filters))}", a, color, 8,
                                  interlace, filters, None))
            a16 = a.astype(np.uint16) * 257 + rng.integers(0, 257, a.shape)
            cases.append((f"{h}x{w}_c{color}_d16", a16, color, 16, 1, [4, 3], None))
        for depth in (1, 2, 4):
            g = (base >> (8 - depth))[..., None]
            cases.append((f"{h}x{w}_gray{depth}", g, 0, depth, 1, [0, 1, 2, 3, 4], None))
            pal = rng.integers(0, 256, (1 << depth, 3), dtype=np.uint8)
            cases.append((f"{h}x{w}_pal{depth}", g, 3, depth, 0, [2, 4], pal))
    out = []
    for name, a, color, depth, interlace, filters, pal in cases:
        for level in (1, 9):
            p = os.path.join(TMP, f"hand_{name}_z{level}.png")
            write_png(p, a, color, depth, interlace, filters, level, pal)
            out.append((p, documented(a, color, depth, pal)))
    return out


def documented(a, color, depth, pal):
    """What png.h promises for samples a: palettes looked up, low depths scaled
    to 0..255, 16 bits rounded to 8 (v * 255 / 65535, to nearest)."""
    if color == 3:
        return pal[a[..., 0]]
    if depth == 16:
        return ((a.astype(np.uint64) * 255 + 32767) // 65535).astype(np.uint8)
    if depth < 8:
        return (a.astype(np.uint32) * 255 // ((1 << depth) - 1)).astype(np.uint8)
    return a.astype(np.uint8)


def same(got, want):
    return got is not None and got.shape == want.shape and (got == want).all()


def test_png_reading():
    pil = pil_pngs()
    for p, (got, err) in zip(pil, probe_pngs(pil)):
        want = expected_from_pil(p)
        check(same(got, want), f"{os.path.basename(p)}: elbo {None if got is None else got.shape} {err} vs PIL {want.shape}")
    hand = handmade_pngs()
    for (p, want), (got, err) in zip(hand, probe_pngs([p for p, _ in hand])):
        check(same(got, want), f"{os.path.basename(p)}: elbo {None if got is None else got.shape} {err} vs the samples written")
        if "_d8_" in p:  # the writer here, checked by PIL where PIL keeps 8-bit samples exactly
            check(same(expected_from_pil(p), want), f"{os.path.basename(p)}: PIL disagrees with the writer here")
    print(f"png reading: {len(pil)} files from PIL, {len(hand)} from a writer of every filter and Adam7")


def test_png_writing():
    smooth, noise = images()
    n = 0
    for base in (smooth, noise):
        for c in (1, 2, 3, 4):
            a = np.stack([np.roll(base, 3 * k, 0) for k in range(c)], -1).astype(np.uint8)
            raw = os.path.join(TMP, "enc.raw")
            a.tofile(raw)
            p = os.path.join(TMP, f"elbo_{c}.png")
            r = subprocess.run([PROBE, "pngenc", raw, str(a.shape[1]), str(a.shape[0]), str(c), p],
                               capture_output=True, text=True)
            check(r.returncode == 0, f"pngenc {c}: {r.stderr}")
            im = Image.open(p)
            im.load()
            back = np.asarray(im)
            back = back if back.ndim == 3 else back[..., None]
            check(back.shape == a.shape and (back == a).all(), f"PIL reads elbo's {c}-channel PNG differently")
            n += 1
    print(f"png writing: {n} elbo PNGs decoded bit-exactly by PIL")


# ---- NumPy ----
def probe_data(path, layout="auto", size="-", labels=None):
    out = os.path.join(TMP, "d")
    cmd = [PROBE, "data", path, out, layout, size] + ([labels] if labels else [])
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, None, r.stderr.strip()
    x = np.load(out + "_x.npy")
    y = np.load(out + "_y.npy") if os.path.exists(out + "_y.npy") else None
    os.remove(out + "_x.npy")
    if y is not None:
        os.remove(out + "_y.npy")
    return x, y, r.stdout


def as_elbo_floats(a):
    """The floats elbo's readers give for array a (training rows, HWC)."""
    if a.dtype.kind in "ui":
        return a.astype(np.float32) / np.float32(255)
    if a.dtype.kind == "b":
        return a.astype(np.float32)
    return a.astype(np.float32)


def test_npy():
    rng = np.random.default_rng(9)
    u8 = rng.integers(0, 256, (20, 6, 5), dtype=np.uint8)
    y = rng.integers(0, 7, 20)
    n = 0
    for dt in ("|u1", "|i1", "<i2", ">i2", "<i4", ">i8", "<u8", "<f4", ">f4", "<f8", "<f2", "|b1"):
        if dt[1] == "f":
            a = (u8.astype(np.float64) / 255).astype(dt)
        elif dt[1] == "b":
            a = u8 > 100
        elif dt[1] == "i" and dt[2] == "1":
            a = (u8 // 2).astype(dt)
        else:
            a = u8.astype(dt)
        p = os.path.join(TMP, f"a_{dt[1:]}_{'be' if dt[0] == '>' else 'le'}.npy")
        np.save(p, a)
        yp = os.path.join(TMP, "y.npy")
        np.save(yp, y.astype(">i4"))
        x, yy, info = probe_data(p, labels=yp)
        check(x is not None, f"np.save {dt}: {info}")
        if x is None:
            continue
        # the held-out split is a seeded choice: compare as sets of rows with their labels
        rows = {tuple(r.ravel()) + (int(l),) for r, l in zip(as_elbo_floats(a)[..., None], y)}
        got = {tuple(r.ravel()) + (int(l),) for r, l in zip(x, yy)}
        check(got <= rows and len(x) == 10, f"np.save {dt}: rows differ from numpy's")
        n += 1
    # 4-D layouts
    rgb = rng.integers(0, 256, (8, 5, 6, 3), dtype=np.uint8)
    np.savez(os.path.join(TMP, "nhwc.npz"), x_train=rgb, y_train=np.arange(8) % 3, x_test=rgb[:2],
             y_test=np.arange(2))
    np.savez_compressed(os.path.join(TMP, "nchw.npz"), x_train=rgb.transpose(0, 3, 1, 2), y_train=np.arange(8) % 3,
                        x_test=rgb[:2].transpose(0, 3, 1, 2), y_test=np.arange(2))
    for name, layout in (("nhwc.npz", "auto"), ("nchw.npz", "auto"), ("nchw.npz", "nchw")):
        x, yy, info = probe_data(os.path.join(TMP, name), layout)
        check(x is not None and x.shape == (8, 5, 6, 3) and (x == as_elbo_floats(rgb)).all() and
              (yy == np.arange(8) % 3).all(), f"{name} ({layout}): {info}")
        n += 1
    # (N, 3, 5, 4) is ambiguous (both axes small): auto assumes NHWC and says so; --layout nchw reads it right
    amb = rgb[:, :, :4, :]
    np.save(os.path.join(TMP, "amb.npy"), amb.transpose(0, 3, 1, 2))
    x, _, info = probe_data(os.path.join(TMP, "amb.npy"))
    check(x is not None and "ambiguous" in info, f"amb.npy auto: {info}")
    x, _, info = probe_data(os.path.join(TMP, "amb.npy"), "nchw")
    kept = {tuple(r.ravel()) for r in as_elbo_floats(amb)}
    check(x is not None and x.shape[1:] == (5, 4, 3) and {tuple(r.ravel()) for r in x} <= kept, f"amb.npy nchw: {info}")
    n += 2
    # a single-array npz with labels under 'labels', written compressed
    np.savez_compressed(os.path.join(TMP, "single.npz"), images=u8, labels=y)
    x, yy, info = probe_data(os.path.join(TMP, "single.npz"))
    check(x is not None and x.shape == (10, 6, 5, 1), f"single.npz: {info}")
    n += 1
    # refused with one line: Fortran order, structured dtype, a member that is not an array
    np.save(os.path.join(TMP, "fortran.npy"), np.asfortranarray(u8[:, :, :]))
    np.save(os.path.join(TMP, "struct.npy"), np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")]))
    import zipfile
    with zipfile.ZipFile(os.path.join(TMP, "notarray.npz"), "w") as z:
        z.writestr("x.txt", "not an array")
        z.writestr("y.npy", b"")
    for name, says in (("fortran.npy", "Fortran"), ("struct.npy", "structured"), ("notarray.npz", "not an array")):
        x, _, err = probe_data(os.path.join(TMP, name))
        check(x is None and says in err and name in err and "\n" not in err, f"{name}: expected a refusal naming it, got {err!r}")
        n += 1
    print(f"numpy: {n} files from np.save / np.savez / np.savez_compressed")


def test_png_folder():
    """A folder written by PIL: ImageFolder order, gray images, resizing."""
    smooth, noise = images()
    root = os.path.join(TMP, "folder")
    imgs = []
    for c, cls in enumerate(("zebra", "ant")):  # sorted: ant = 0, zebra = 1
        os.makedirs(os.path.join(root, cls))
        for i in range(3):
            a = np.roll(smooth if c else noise, i, 0)
            Image.fromarray(a, "L").save(os.path.join(root, cls, f"{i}.png"), compress_level=6)
            imgs.append((1 - c, i, a))
    imgs.sort(key=lambda t: (t[0], t[1]))
    x, y, info = probe_data(root)
    # half held out: check the kept rows are among the images with their labels
    rows = {tuple((a.astype(np.float32) / np.float32(255)).ravel()) + (l,) for l, _, a in imgs}
    got = {tuple(r.ravel()) + (int(l),) for r, l in zip(x, y)} if x is not None else set()
    check(x is not None and got <= rows and len(got) == 3, f"png folder: {info}")
    x, y, info = probe_data(root, "auto", "10x7")
    check(x is not None and x.shape[1:] == (10, 7, 1), f"png folder resized: {info}")
    print("png folder: class order and resizing")


test_png_reading()
test_png_writing()
test_npy()
test_png_folder()
if failures:
    print(f"peer_formats: {len(failures)} failures")
    sys.exit(1)
print("peer_formats: all agree")
