"""Image sign/verify: sigstack vs the real cosign, whole-process wall time, same run.

Starts a throw-away docker-registry on loopback, pushes small images with our
client, then times (median of --runs):
  * ``sign --key`` of a fresh image (legacy .sig layout, no log) — cosign v3 with
    --new-bundle-format=false --use-signing-config=false --tlog-upload=false;
  * ``verify --key`` of a signed image (cosign with --insecure-ignore-tlog);
  * ``verify --key`` of an image carrying 100 signatures (both check them
    concurrently: cosign --max-workers 10, sigstack --max-workers 10).
Prints each ratio cosign/sigstack (>1 means sigstack is faster), and the floor: how long
this Python takes to start and import httpx and cryptography without doing anything.
With ``--baseline REV`` the sigstack of an earlier commit (checked out in a temporary
worktree, run by the same interpreter and libraries) is timed in the same runs,
interleaved, and its ratio printed too: "no slower than before" measured in one run.

    .venv/bin/python bench/images.py [--runs 7] [--baseline REV]
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests" / "oci"), str(ROOT)]  # ocihelpers imports tests.helpers

from _peers import COSIGN, FLOOR, PYTHON, SIGSTACK  # noqa: E402
from ocihelpers import push_image  # noqa: E402

from sigstack import keys  # noqa: E402
from sigstack.oci import layout  # noqa: E402
from sigstack.oci.client import RegistryClient  # noqa: E402
from sigstack.oci.reference import parse_reference  # noqa: E402
from sigstack.payload import simplesigning  # noqa: E402

# Byte-compiled modules are how users run sigstack; a PYTHONDONTWRITEBYTECODE left
# in the environment would make every run recompile our sources, so it is dropped.
# Our sources come first on the path, as a regular (non-editable) install puts them: an
# editable install's import hook costs every module import a lookup, which is not ours to
# count (and a --baseline tree is found the same way, so the two compare alike).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"} | {
    "COSIGN_PASSWORD": "bench", "PYTHONPATH": str(ROOT / "src")}


def start_registry(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The registry logs errors only, to nowhere: an info line per request, read by a
    thread of this process, would take CPU from the commands being timed."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp / "config.yml"
    cfg.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                   f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'data'}\n"
                   f"http:\n  addr: 127.0.0.1:{port}\n")
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stderr=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL)
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.1):
                return proc, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    raise SystemExit("registry did not start")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env or ENV, capture_output=True)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed: {r.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--baseline", metavar="REV", help="also time the sigstack of this git revision")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        old: list[str] | None = None
        old_env = ENV
        if args.baseline:
            tree = tmp / "baseline"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.baseline],
                           check=True)
            subprocess.run([PYTHON, "-m", "compileall", "-q", str(tree / "src")], check=True)
            old, old_env = [PYTHON, "-m", "sigstack.cli.main"], ENV | {"PYTHONPATH": str(tree / "src")}
        proc, host = start_registry(tmp)
        try:
            subprocess.run([SIGSTACK, "generate-key-pair"], env=ENV, cwd=tmp, check=True, capture_output=True)
            key, pub = str(tmp / "cosign.key"), str(tmp / "cosign.pub")
            subprocess.run([SIGSTACK, "--version"], env=ENV, check=True, capture_output=True)  # warm .pyc
            client = RegistryClient()

            def image(name: str) -> str:
                ref = parse_reference(f"{host}/bench/{name}:v1")
                return f"{host}/bench/{name}@{push_image(client, ref)}"

            results: dict[str, tuple[float, float, float | None]] = {}
            ours, theirs, before = [], [], []
            for i in range(args.runs):
                ours.append(timed([SIGSTACK, "sign", "--key", key, "--tlog-upload=false", image(f"s{i}")]))
                theirs.append(timed([COSIGN, "sign", "--key", key, "--new-bundle-format=false",
                                     "--use-signing-config=false", "--tlog-upload=false", "-y",
                                     image(f"c{i}")]))
                if old:
                    before.append(timed([*old, "sign", "--key", key, "--tlog-upload=false", image(f"b{i}")], old_env))
            results["sign"] = (statistics.median(ours), statistics.median(theirs),
                               statistics.median(before) if before else None)

            def three(argv: list[str], target: str) -> tuple[float, float, float | None]:
                o, t, b = [], [], []
                for _ in range(args.runs):  # interleaved: load changes hit all three alike
                    o.append(timed([SIGSTACK, *argv, target]))
                    t.append(timed([COSIGN, *argv, target]))
                    if old:
                        b.append(timed([*old, *argv, target], old_env))
                return statistics.median(o), statistics.median(t), statistics.median(b) if b else None

            one = image("one")
            timed([SIGSTACK, "sign", "--key", key, "--tlog-upload=false", one])
            results["verify (1 signature)"] = three(["verify", "--key", pub, "--insecure-ignore-tlog"], one)

            many = image("many")
            ref = parse_reference(many)
            signer = keys.load_signer(key, b"bench")
            layers = []
            for n in range(100):
                payload = simplesigning.make(ref.repository.name, ref.digest or "", {"n": str(n)})
                layers.append(layout.Layer(layout.SIMPLESIGNING_MEDIA, payload, {
                    layout.SIGNATURE_ANNOTATION: base64.b64encode(signer.sign(payload)).decode()}))
            layout.push_image(client, ref.repository.tag(layout.attachment_tag(ref.digest or "", "sig")),
                              layout.build_image(layers))
            results["verify (100 signatures)"] = three(
                ["verify", "--key", pub, "--insecure-ignore-tlog", "--max-workers", "10", "-o", "text"], many)
            client.close()
        finally:
            proc.terminate()
            proc.wait(10)
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tmp / "baseline")],
                               check=False)
    floor = statistics.median(timed([PYTHON, "-c", FLOOR]) for _ in range(args.runs))
    head = f"{'operation':26} {'sigstack s':>11} {'cosign s':>10} {'cosign/sigstack':>16}"
    print(head + (f" {'baseline s':>11} {'cosign/baseline':>16}" if args.baseline else ""))
    for name, (o, t, b) in results.items():
        line = f"{name:26} {o:11.3f} {t:10.3f} {t / o:16.2f}"
        print(line + (f" {b:11.3f} {t / b:16.2f}" if b is not None else ""))
    print(f"floor: this Python starting and importing httpx and cryptography, no work: {floor:.3f} s")


if __name__ == "__main__":
    main()
