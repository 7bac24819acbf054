"""Keyless ``verify-blob``: sigstack next to the real cosign and the PyPI ``sigstore`` client.

Same bundle, artifact, identity and trusted root for all three (a sigstore-conformance
public-good bundle, Rekor v1 with SET and inclusion proof, verified offline):

* whole process: the median wall time of ``sigstack verify-blob``, ``cosign verify-blob
  --trusted-root`` and ``sigstore --trust-config … verify identity --offline``, each run
  ``--runs`` times, interleaved; plus the *interpreter floor* measured in the same run:
  Python starting and importing what verification needs (cryptography's X.509 and
  verification modules, the hash and JSON modules), doing no work;
* in process, one core: verifications per second of ``sigstack.verify.verifier.Verifier``
  (keyless material) and of sigstore-python's ``Verifier.verify_artifact`` on the
  parsed bundle, each for ``--seconds``.

Ratios are printed against the references measured in the same run.

    .venv/bin/python bench/verify_keyless.py [--runs 15] [--seconds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT / ".." / "shared" / "vectors" / "conformance"
CASE = CONFORMANCE / "bundle-verify" / "happy-path-v0.3"
BUNDLE = CASE / "bundle.sigstore.json"
ARTIFACT = CONFORMANCE / "bundle-verify" / "a.txt"
TRUSTED_ROOT = CONFORMANCE / "public-good-trust" / "production" / "trusted_root.json"
IDENTITY = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
            "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
ISSUER = "https://token.actions.githubusercontent.com"
BIN = Path(sys.executable).parent
FLOOR_IMPORTS = ("import base64, hashlib, json; import cryptography.x509, cryptography.x509.verification; "
                 "from cryptography.hazmat.primitives.asymmetric import ec")


def trust_config(out: Path) -> Path:
    service = {"url": "https://ca.invalid", "majorApiVersion": 1, "validFor": {"start": "1970-01-01T00:00:00Z"},
               "operator": ""}
    out.write_text(json.dumps({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads(TRUSTED_ROOT.read_bytes()),
        "signingConfig": {"mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
                          "caUrls": [service], "oidcUrls": [], "rekorTlogUrls": [service], "tsaUrls": [],
                          "rekorTlogConfig": {"selector": "ANY"}, "tsaConfig": {"selector": "ANY"}}}))
    return out


def whole_process(runs: int, cfg: Path) -> dict[str, float]:
    cosign = shutil.which("cosign") or str(Path.home() / "go" / "bin" / "cosign")
    common = ["--certificate-identity", IDENTITY, "--certificate-oidc-issuer", ISSUER]
    commands = {
        "interpreter floor": [sys.executable, "-c", FLOOR_IMPORTS],
        "sigstack": [str(BIN / "sigstack"), "verify-blob", "--bundle", str(BUNDLE), "--trusted-root",
                     str(TRUSTED_ROOT), *common, str(ARTIFACT)],
        "cosign": [cosign, "verify-blob", "--bundle", str(BUNDLE), "--trusted-root", str(TRUSTED_ROOT), *common,
                   str(ARTIFACT)],
        "sigstore-python": [str(BIN / "sigstore"), "--trust-config", str(cfg), "verify", "identity", "--offline",
                            "--cert-identity", IDENTITY, "--cert-oidc-issuer", ISSUER, "--bundle", str(BUNDLE),
                            str(ARTIFACT)],
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COSIGN_", "SIGSTORE_"))}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, argv in commands.items():
            t0 = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, env=env)
            times[name].append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise SystemExit(f"{name} failed: {done.stderr.decode()[-300:]}")
    return {name: statistics.median(ts) for name, ts in times.items()}


def rate(fn: object, seconds: float) -> float:
    assert callable(fn)
    fn()  # warm caches (parsed trust root, imported modules)
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds:
        fn()
        n += 1
    return n / elapsed


def in_process(seconds: float) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "src"))
    from sigstore.models import Bundle as SPBundle
    from sigstore.models import TrustedRoot as SPRoot
    from sigstore.verify import Verifier as SPVerifier
    from sigstore.verify import policy as sp_policy

    from sigstack.bundle.models import Bundle
    from sigstack.bundle.trustroot import TrustedRoot
    from sigstack.verify.evidence import LogPolicy
    from sigstack.verify.identity import Identity
    from sigstack.verify.keyless import Keyless
    from sigstack.verify.verifier import Verifier

    data, artifact = BUNDLE.read_bytes(), ARTIFACT.read_bytes()
    digest = ("sha256", hashlib.sha256(artifact).digest())
    ours = Verifier(Keyless(TrustedRoot.from_json(TRUSTED_ROOT.read_bytes()), Identity(IDENTITY, ISSUER)),
                    LogPolicy())
    bundle = Bundle.from_json(data)
    theirs = SPVerifier(trusted_root=SPRoot.from_file(str(TRUSTED_ROOT)))
    sp_bundle = SPBundle.from_json(data)
    pol = sp_policy.Identity(identity=IDENTITY, issuer=ISSUER)
    return {
        "sigstack": rate(lambda: ours.verify_blob(bundle=bundle, digest=digest), seconds),
        "sigstack (parsing the bundle each time)":
            rate(lambda: ours.verify_blob(bundle=Bundle.from_json(data), digest=digest), seconds),
        "sigstore-python": rate(lambda: theirs.verify_artifact(artifact, sp_bundle, pol), seconds),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core, children too
    with tempfile.TemporaryDirectory() as tmp:
        wall = whole_process(args.runs, trust_config(Path(tmp) / "cfg.json"))
    print(f"whole process, median of {args.runs} (bundle {CASE.name}, offline, one core):")
    for name, t in wall.items():
        print(f"  {name:<18} {t * 1000:7.1f} ms")
    floor = wall["interpreter floor"]
    print(f"  sigstack above the interpreter floor: {(wall['sigstack'] - floor) * 1000:.1f} ms")
    print(f"  sigstore-python / sigstack: {wall['sigstore-python'] / wall['sigstack']:.2f}x;"
          f"  cosign / sigstack: {wall['cosign'] / wall['sigstack']:.2f}x")
    rates = in_process(args.seconds)
    print(f"in process, one core, {args.seconds:g} s each:")
    for name, r in rates.items():
        print(f"  {name:<40} {r:8.0f} verifications/s")
    print(f"  sigstack / sigstore-python: {rates['sigstack'] / rates['sigstore-python']:.2f}x")


if __name__ == "__main__":
    main()
