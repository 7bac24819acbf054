"""The four public-good bundles of ``shared/vectors/bundles`` through the keyless
blocks, with the trusted roots and identities their README names.

The two passing bundles pass every block; ``bundle_cve_2022_36056`` (a genuine log entry, but for
another signature and certificate over the same file: CVE-2022-36056) passes every
block here, so only the Rekor v1 body comparison of the pipeline can refuse it —
asserted here by showing that the logged signature is not the bundle's; ``bundle_no_log_entry`` has no
verified time at all.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from sigstack.tlog.checkpoint import verify_set
from sigstack.tlog.merkle import leaf_hash, verify_inclusion
from sigstack.tlog.rekor_v2 import verify_log_checkpoint
from sigstack.verify.certificate import verify_certificate_chain
from sigstack.verify.identity import Identity
from sigstack.verify.sct import verify_embedded_sct
from sigstack.verify.timestamp import verify_timestamps
from tests.verify._vectors import BUNDLES, parse_bundle, trusted_root

CASES = {
    "bundle_v3.txt": ("staging", "william@yossarian.net", "https://github.com/login/oauth"),
    "bundle_v3_github.whl": ("production", "https://github.com/trailofbits/rfc8785.py/.github/workflows/"
                             "release.yml@refs/tags/v0.1.2", "https://token.actions.githubusercontent.com"),
    "bundle_cve_2022_36056.txt": ("staging", "william@yossarian.net", "https://github.com/login/oauth"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_blocks_pass(name: str) -> None:
    which, identity, issuer = CASES[name]
    root = trusted_root(BUNDLES / "trust" / f"{which}.trusted_root.json")
    b = parse_bundle(BUNDLES / f"{name}.sigstore", BUNDLES / name)
    assert verify_timestamps(b.signature, b.tokens, root, b.leaf) == []
    t = b.integrated_time()
    assert t is not None and b.entry is not None
    chain = verify_certificate_chain(b.leaf, root, t, b.certs[1:])
    verify_embedded_sct(chain, root)
    Identity(identity=identity, issuer=issuer).verify(b.leaf)
    e = b.entry
    log = root.tlog(base64.b64decode(e["logId"]["keyId"]), at=t)
    assert log is not None
    verify_set(base64.b64decode(e["inclusionPromise"]["signedEntryTimestamp"]), e["canonicalizedBody"],
               int(e["integratedTime"]), int(e["logIndex"]), log.verifier())
    proof = e["inclusionProof"]
    cp = verify_log_checkpoint(proof["checkpoint"]["envelope"], log)
    body = base64.b64decode(e["canonicalizedBody"])
    verify_inclusion(int(proof["logIndex"]), int(proof["treeSize"]), leaf_hash(body),
                     [base64.b64decode(h) for h in proof["hashes"]], cp.root_hash)
    spec = json.loads(body)["spec"]
    assert spec["data"]["hash"]["value"] == hashlib.sha256(b.artifact).hexdigest()
    same_signature = base64.b64decode(spec["signature"]["content"]) == b.signature
    assert same_signature == (name != "bundle_cve_2022_36056.txt")


def test_no_log_entry_has_no_verified_time() -> None:
    root = trusted_root(BUNDLES / "trust" / "staging.trusted_root.json")
    b = parse_bundle(BUNDLES / "bundle_no_log_entry.txt.sigstore", BUNDLES / "bundle_no_log_entry.txt")
    assert b.entry is None and b.integrated_time() is None
    assert verify_timestamps(b.signature, b.tokens, root, b.leaf) == []
