"""Keyless ``sign-blob`` end to end: sigstack vs the real cosign, whole-process wall time, same run.

Starts ``sigstack serve`` (dev OIDC issuer, CA with its CT log, transparency log) on
free loopback ports, then times, interleaved (median of --runs), each tool signing a
small blob keylessly against it with the same fresh identity token, signing config and
trusted root, and writing a bundle:

  * ``sigstack sign-blob --identity-token T --signing-config F --trusted-root R --bundle B -y``
  * ``cosign sign-blob   --identity-token T --signing-config F --trusted-root R --bundle B --yes``

Each run is: start, certificate request (proof of possession, precertificate, CT entry,
SCT), signature, Rekor upload, bundle. The services are the same for both, so the ratio
cosign/sigstack (>1: sigstack is faster) compares the clients. Also printed: the floor,
how long this Python takes to start and import httpx and cryptography doing nothing.

    .venv/bin/python bench/sign_keyless.py [--runs 9] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _peers import COSIGN, FLOOR, PYTHON, SIGSTACK

# No COSIGN_*/SIGSTORE_* from the caller's shell; byte-compiled modules, as users run them.
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("COSIGN_", "SIGSTORE_")) and k != "PYTHONDONTWRITEBYTECODE"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_serve(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    ports = [free_port() for _ in range(3)]
    proc = subprocess.Popen([SIGSTACK, "serve", "--dir", str(state), "--oidc-port", str(ports[0]),
                             "--ca-port", str(ports[1]), "--tlog-port", str(ports[2])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    oidc = f"http://127.0.0.1:{ports[0]}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("sigstack serve exited")
        try:
            if (state / "env").exists() and httpx.get(f"http://127.0.0.1:{ports[2]}/api/v1/log", timeout=1).is_success:
                return proc, oidc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.terminate()
    sys.exit("sigstack serve did not start")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(cmd)}: {proc.stderr.decode()}")
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    from sigstack.oidc.issuer import DevIssuer, load_or_create_key

    with tempfile.TemporaryDirectory(prefix="sigstack-bench-keyless-") as tmp:
        work = Path(tmp)
        state = work / "state"
        proc, oidc = start_serve(state)
        try:
            issuer = DevIssuer(oidc, load_or_create_key(state / "oidc"))
            blob = work / "blob.txt"
            blob.write_bytes(os.urandom(4096))
            common = ["--signing-config", str(state / "signing_config.json"),
                      "--trusted-root", str(state / "trusted_root.json")]
            ours: list[float] = []
            theirs: list[float] = []
            for i in range(args.runs + 1):  # the first round warms both (page cache, byte code)
                token = issuer.mint(None, f"bench{i}@example.com")
                a = timed([SIGSTACK, "sign-blob", "--identity-token", token, *common,
                           "--bundle", str(work / f"s{i}.json"), "-y", str(blob)])
                b = timed([COSIGN, "sign-blob", "--identity-token", token, *common,
                           "--bundle", str(work / f"c{i}.json"), "--yes", str(blob)])
                if i:
                    ours.append(a)
                    theirs.append(b)
            floor = statistics.median(timed([PYTHON, "-c", FLOOR]) for _ in range(args.runs))
        finally:
            proc.terminate()
            proc.wait(20)
    figures = {"sigstack_sign_blob_keyless_s": statistics.median(ours),
               "cosign_sign_blob_keyless_s": statistics.median(theirs), "python_floor_s": floor}
    figures["ratio_cosign_over_sigstack"] = figures["cosign_sign_blob_keyless_s"] / figures[
        "sigstack_sign_blob_keyless_s"]
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(f"keyless sign-blob against sigstack serve, median of {args.runs} runs (interleaved)")
        print(f"  sigstack : {figures['sigstack_sign_blob_keyless_s']:.3f} s")
        print(f"  cosign   : {figures['cosign_sign_blob_keyless_s']:.3f} s")
        print(f"  ratio cosign/sigstack: {figures['ratio_cosign_over_sigstack']:.2f} (>1: sigstack faster)")
        print(f"  floor (python + httpx + cryptography imports): {floor:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
