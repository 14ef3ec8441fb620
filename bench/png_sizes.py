#!/usr/bin/env python3
"""Sizes of the PNG grids a run wrote, against the stored (uncompressed) PNGs
the project wrote before and against PIL at zlib level 9 on the same pixels,
and a bit-exact decode check by both decoders (elbo's, through io_probe, and
PIL's).

    /usr/bin/python3 bench/png_sizes.py BUILD_DIR RUN_DIR [RUN_DIR...]
"""
import glob
import io
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image


def stored_size(w, h, c):
    """The PNG of stored deflate blocks: signature, IHDR, one IDAT, IEND."""
    raw = h * (1 + w * c)
    return 8 + 25 + 12 + (2 + raw + 5 * math.ceil(raw / 65535) + 4) + 12


def main():
    probe = os.path.join(sys.argv[1], "tests", "io", "io_probe")
    tmp = tempfile.mkdtemp()
    print(f"{'file':48}{'size':>9}{'stored':>9}{'ratio':>7}{'PIL -9':>9}{'ours/PIL':>9}  decoded by elbo, PIL")
    worst = None
    for run in sys.argv[2:]:
        for p in sorted(glob.glob(os.path.join(run, "*.png"))):
            im = Image.open(p)
            a = np.asarray(im)
            a = a if a.ndim == 3 else a[..., None]
            h, w, c = a.shape
            r = subprocess.run([probe, "png", p, os.path.join(tmp, "x.raw")], capture_output=True, text=True)
            ours = np.fromfile(os.path.join(tmp, "x.raw"), dtype=np.uint8).reshape(h, w, c) if r.returncode == 0 else None
            exact = ours is not None and (ours == a).all()
            b = io.BytesIO()
            im.save(b, "PNG", compress_level=9)
            size, st = os.path.getsize(p), stored_size(w, h, c)
            ratio = st / size
            worst = ratio if worst is None else min(worst, ratio)
            name = os.path.join(os.path.basename(os.path.normpath(run)), os.path.basename(p))
            print(f"{name:48}{size:9d}{st:9d}{ratio:7.2f}{len(b.getvalue()):9d}{size / len(b.getvalue()):9.3f}  "
                  f"{'same pixels' if exact else 'DIFFERENT'}")
    print(f"smallest stored/ours ratio: {worst:.2f} (bar: 3)")


if __name__ == "__main__":
    main()
