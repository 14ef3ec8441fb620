#!/usr/bin/env python3
"""Open the drivers' HTML reports in headless Chromium and fail on a broken
image, a console error, a failed load or an empty page.

Runs experiments/vae --quick, a two-run experiments/sweep over it and
experiments/mog_1d --quick into BUILD/tests/report/runs, then loads every
index.html in one headless Chromium driven over the DevTools protocol on a
pipe (--remote-debugging-pipe: no port, no extra package, stdlib only), and
keeps a full-page screenshot of each in BUILD/tests/report/screenshots.
On the sweep's page it also clicks a column head and checks the runs table
is then sorted by that column.

    check_report.py --build BUILD_DIR [--chromium /usr/bin/chromium]
"""
import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                  "--hide-scrollbars", "--mute-audio", "--remote-debugging-pipe"]
TIMEOUT = 60.0
SETTLE = 0.5  # seconds after the load event for late errors


def high(fd):
    """fd moved above 9, so the redirections to 3 and 4 cannot clobber it."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (events out)."""

    def __init__(self, exe):
        self.profile = tempfile.mkdtemp(prefix="elbo-chromium-")
        to_r, self.to_w = (high(fd) for fd in os.pipe())
        self.from_r, from_w = (high(fd) for fd in os.pipe())
        # bash puts the child's ends at fds 3 and 4, where Chromium looks for the pipe.
        cmd = ["/bin/bash", "-c", f'exec "$0" "$@" 3<&{to_r} 4>&{from_w}', exe, *CHROMIUM_FLAGS,
               f"--user-data-dir={self.profile}", "about:blank"]
        self.proc = subprocess.Popen(cmd, pass_fds=(to_r, from_w), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from chromium")
            r, _, _ = select.select([self.from_r], [], [], left)
            if r:
                chunk = os.read(self.from_r, 1 << 20)
                if not chunk:
                    err = self.proc.stderr.read().decode(errors="replace")[-2000:] if self.proc.stderr else ""
                    raise RuntimeError(f"chromium closed the pipe: {err}")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=TIMEOUT):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == mid:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def drain(self, seconds):
        deadline = time.monotonic() + seconds
        try:
            while True:
                self.events.append(self._read_message(deadline))
        except TimeoutError:
            pass

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


PAGE_FACTS = """(() => {
  const imgs = Array.from(document.images);
  return JSON.stringify({
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.getAttribute('src')),
    images: imgs.length,
    svgs: document.querySelectorAll('svg').length,
    text: document.body ? document.body.innerText.trim().length : 0,
    sections: document.querySelectorAll('h2').length,
  });
})()"""

# Sort the runs table by its last column twice (ascending, then descending).
SORT_CHECK = """(() => {
  const t = document.querySelector('table.sortable');
  if (!t) return JSON.stringify({error: 'no sortable table'});
  const col = t.tHead.rows[0].cells.length - 1;
  const vals = () => Array.from(t.tBodies[0].rows).map(r => parseFloat(r.cells[col].dataset.v));
  const th = t.tHead.rows[0].cells[col];
  th.click();
  const up = vals();
  th.click();
  const down = vals();
  const sorted = (a, s) => a.every((v, i) => i === 0 || isNaN(v) || isNaN(a[i - 1]) || s * (v - a[i - 1]) >= 0);
  return JSON.stringify({rows: up.length, ascending: sorted(up, 1), descending: sorted(down, -1)});
})()"""


def check_page(br, path, shot):
    """Problems found on the page at path (a list of strings); saves a screenshot to shot."""
    problems = []
    target = br.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = br.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        br.send(f"{domain}.enable", session=session)
    br.send("Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session=session)
    br.send("Page.navigate", {"url": "file://" + os.path.abspath(path)}, session=session)
    br.wait_event("Page.loadEventFired", session)
    br.drain(SETTLE)
    facts = json.loads(br.send("Runtime.evaluate", {"expression": PAGE_FACTS, "returnByValue": True},
                               session=session)["result"]["value"])
    for e in br.events:
        if e.get("sessionId") != session:
            continue
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            problems.append("console error: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            problems.append("exception: " + p.get("exceptionDetails", {}).get("text", "?"))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            problems.append("log error: " + p["entry"].get("text", "?") + " " + p["entry"].get("url", ""))
        elif m == "Network.loadingFailed" and not p.get("canceled"):
            problems.append("failed load: " + p.get("errorText", "?"))
    br.events = [e for e in br.events if e.get("sessionId") != session]
    if facts["broken"]:
        problems.append(f"broken images: {facts['broken']}")
    if facts["text"] < 100 or facts["sections"] < 2:
        problems.append(f"empty page: {facts['text']} characters of text, {facts['sections']} sections")
    if facts["images"] + facts["svgs"] == 0:
        problems.append("no figure at all")
    layout = br.send("Page.getLayoutMetrics", session=session)
    size = layout.get("cssContentSize") or layout.get("contentSize")
    height = min(int(size["height"]), 16000)
    br.send("Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": max(height, 600), "deviceScaleFactor": 1, "mobile": False}, session=session)
    png = br.send("Page.captureScreenshot", {"format": "png"}, session=session)["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    extra = None
    if "sweep" in os.path.basename(os.path.dirname(path)):
        extra = json.loads(br.send("Runtime.evaluate", {"expression": SORT_CHECK, "returnByValue": True},
                                   session=session)["result"]["value"])
        if extra.get("error") or not extra.get("ascending") or not extra.get("descending") or extra.get("rows", 0) < 2:
            problems.append(f"runs table does not sort: {extra}")
    br.send("Target.closeTarget", {"targetId": target})
    return problems, facts, extra


def run(cmd, log):
    with open(log, "w") as f:
        r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        sys.exit(f"check_report: {' '.join(cmd)} failed (exit {r.returncode}); see {log}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--chromium", default="")
    ap.add_argument("--data", default="")
    a = ap.parse_args()
    exe = a.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe or not os.access(exe, os.X_OK):
        sys.exit("check_report: chromium not found: install it with scripts/install-deps.sh io")

    base = os.path.join(a.build, "tests", "report")
    runs, shots = os.path.join(base, "runs"), os.path.join(base, "screenshots")
    shutil.rmtree(runs, ignore_errors=True)
    os.makedirs(runs)
    os.makedirs(shots, exist_ok=True)
    exp = os.path.join(a.build, "experiments")
    data = ["--data", a.data] if a.data else []
    run([os.path.join(exp, "vae"), "--quick", "--epochs", "2", *data, "--out", os.path.join(runs, "vae")],
        os.path.join(runs, "vae.log"))
    run([os.path.join(exp, "mog_1d"), "--quick", "--out", os.path.join(runs, "mog_1d")],
        os.path.join(runs, "mog_1d.log"))
    args = "--quick --epochs 1" + (f" --data {a.data}" if a.data else "")
    run([os.path.join(exp, "sweep"), "--driver", "vae", "--grid", "latent=2,3 seed=1,2", "--args", args,
         "--out", os.path.join(runs, "sweep")], os.path.join(runs, "sweep.log"))

    pages = [os.path.join(runs, d, "index.html") for d in ("vae", "mog_1d", "sweep")]
    pages.append(os.path.join(runs, "sweep", "runs", sorted(os.listdir(os.path.join(runs, "sweep", "runs")))[0],
                              "index.html"))
    br = Browser(exe)
    failed = 0
    try:
        for page in pages:
            name = os.path.relpath(os.path.dirname(page), runs).replace("/", "_")
            shot = os.path.join(shots, name + ".png")
            problems, facts, extra = check_page(br, page, shot)
            status = "ok" if not problems else "FAILED"
            print(f"{status:6} {os.path.relpath(page, runs)}: {facts['images']} images, {facts['svgs']} inline SVG, "
                  f"{facts['text']} characters{', sort ' + json.dumps(extra) if extra else ''}; screenshot {shot}")
            for p in problems:
                print("       " + p)
            failed += bool(problems)
    finally:
        br.close()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
