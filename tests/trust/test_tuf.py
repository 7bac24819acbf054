"""The TUF client against a real TUF repository built with python-tuf's Metadata API
and served on 127.0.0.1 by ``http.server`` (a static mirror is all TUF needs).

Each attack the TUF spec defends against is staged on the repository and must be
refused with one clear error: an unsigned root rotation, an expired timestamp, a
rollback of snapshot / targets versions, and a tampered target; the legitimate changes
(key rotation signed by the old and the new keys) must go through.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from securesystemslib.signer import CryptoSigner

from sigstack.bundle.trustroot import SigningConfig, TrustedRoot
from sigstack.errors import TUFError
from sigstack.trust.tuf import TrustUpdater, default_mirror, embedded_root, initialize
from tests.helpers import assert_clean_error, sigstack
from tests.trust.tufrepo import Repo, serve

PUBLIC_GOOD = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "conformance" / "public-good-trust"
@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[Repo, str]]:
    r = Repo(tmp_path / "repo")
    r.add_target("trusted_root.json", (PUBLIC_GOOD / "production" / "trusted_root.json").read_bytes())
    r.add_target("signing_config.v0.2.json", (PUBLIC_GOOD / "production" / "signing_config.v0.2.json").read_bytes())
    r.publish()
    with serve(r.path) as url:
        yield r, url


def test_initial_fetch_then_offline(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    cache = tmp_path / "cache"
    updater = initialize(url, cache, r.initial_root())
    assert updater.trusted_root().tlogs[0].base_url == "https://rekor.sigstore.dev"
    assert isinstance(updater.signing_config(), SigningConfig)
    assert default_mirror(cache) == url
    # offline: from the cache only, verified against the cached metadata
    offline = TrustUpdater(url, cache, offline=True)
    assert offline.target("trusted_root.json") == r.files["trusted_root.json"]
    assert isinstance(offline.trusted_root(), TrustedRoot)


def test_key_rotation_signed_by_old_and_new(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    cache = tmp_path / "cache"
    initialize(url, cache, r.initial_root())
    old_root, new_root = r.signers["root"][0], CryptoSigner.generate_ed25519()
    new_ts = CryptoSigner.generate_ed25519()
    r.root.signed.version = 2
    r.root.signed.revoke_key(old_root.public_key.keyid, "root")
    r.root.signed.add_key(new_root.public_key, "root")
    r.root.signed.revoke_key(r.signers["timestamp"][0].public_key.keyid, "timestamp")
    r.root.signed.add_key(new_ts.public_key, "timestamp")
    r.publish_root([old_root, new_root])
    r.signers["root"], r.signers["timestamp"] = [new_root], [new_ts]
    r.publish()
    updater = TrustUpdater(url, cache)
    updater.refresh()
    assert json.loads((updater.metadata_dir / "root.json").read_bytes())["signed"]["version"] == 2
    assert updater.target("trusted_root.json") == r.files["trusted_root.json"]


def test_rotation_signed_only_by_new_key_refused(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    cache = tmp_path / "cache"
    initialize(url, cache, r.initial_root())
    new_root = CryptoSigner.generate_ed25519()
    r.root.signed.version = 2
    r.root.signed.revoke_key(r.signers["root"][0].public_key.keyid, "root")
    r.root.signed.add_key(new_root.public_key, "root")
    r.publish_root([new_root])
    with pytest.raises(TUFError, match="not signed by a threshold"):
        TrustUpdater(url, cache).refresh()


def test_expired_timestamp_refused(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    r.timestamp.signed.expires = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    r.publish()
    with pytest.raises(TUFError, match="expired metadata"):
        initialize(url, tmp_path / "cache", r.initial_root())


@pytest.mark.parametrize("role", ["snapshot", "targets"])
def test_rollback_refused(repo: tuple[Repo, str], tmp_path: Path, role: str) -> None:
    r, url = repo
    cache = tmp_path / "cache"
    r.publish()  # version 2 of everything
    initialize(url, cache, r.initial_root())
    # the mirror now serves an older snapshot (or targets) under a newer timestamp
    md = r.snapshot if role == "snapshot" else r.targets
    md.signed.version = 1
    r.timestamp.signed.version += 1
    if role == "targets":
        r.snapshot.signed.version += 1
    r.publish(bump=False)
    with pytest.raises(TUFError, match="rollback attack: metadata version went backwards"):
        TrustUpdater(url, cache).refresh()


def test_tampered_target_refused(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    data = r.files["trusted_root.json"]
    name = hashlib.sha256(data).hexdigest() + ".trusted_root.json"
    (r.path / "targets" / name).write_bytes(data.replace(b"rekor.sigstore.dev", b"rekor.evil.example"))
    with pytest.raises(TUFError, match="length or hash"):
        initialize(url, tmp_path / "cache", r.initial_root())


def test_tampered_cache_refused_offline(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    cache = tmp_path / "cache"
    updater = initialize(url, cache, r.initial_root())
    path = updater.targets_dir / "trusted_root.json"
    path.write_bytes(path.read_bytes().replace(b"rekor.sigstore.dev", b"rekor.evil.example"))
    with pytest.raises(TUFError, match="length or hash"):
        TrustUpdater(url, cache, offline=True).trusted_root()


def test_offline_without_cache() -> None:
    with pytest.raises(TUFError, match="run initialize first"):
        TrustUpdater("http://127.0.0.1:9", Path("/nonexistent-sigstack-cache"), offline=True).trusted_root()


def test_embedded_public_good_roots() -> None:
    for mirror, name in (("https://tuf-repo-cdn.sigstore.dev", "production"),
                         ("https://tuf-repo-cdn.sigstage.dev/", "staging")):
        assert embedded_root(mirror) == (PUBLIC_GOOD / name / "root.json").read_bytes()
    assert embedded_root("https://example.invalid") is None


def test_cli_initialize(repo: tuple[Repo, str], tmp_path: Path) -> None:
    r, url = repo
    root = tmp_path / "root.json"
    root.write_bytes(r.initial_root())
    cache = tmp_path / "tuf"
    res = sigstack("initialize", "--mirror", url, "--root", root, env={"TUF_ROOT": str(cache)})
    assert res.code == 0, res.err
    assert "Root status: initialized" in res.err
    assert json.loads((cache / "remote.json").read_bytes()) == {"mirror": url}


def test_cli_initialize_errors(repo: tuple[Repo, str], tmp_path: Path) -> None:
    _, url = repo
    env = {"TUF_ROOT": str(tmp_path / "tuf")}
    assert_clean_error(sigstack("initialize", "--mirror", url, "--root", tmp_path / "missing.json", env=env),
                       "reading root")
    # a mirror nobody has an initial root for
    assert_clean_error(sigstack("initialize", "--mirror", url, env=env), "initialize it with its initial root.json")
    # the wrong initial root: the repository's metadata is not signed by its keys
    other = Repo(tmp_path / "other")
    bad = tmp_path / "bad-root.json"
    bad.write_bytes(other.initial_root())
    assert_clean_error(sigstack("initialize", "--mirror", url, "--root", bad, env=env), "TUF:")


def test_keyless_verify_blob_uses_the_tuf_cached_root(repo: tuple[Repo, str], tmp_path: Path) -> None:
    """Without --trusted-root, keyless verify-blob takes the trusted root ``initialize``
    cached under $TUF_ROOT, read from the cache (--offline: never refreshed)."""
    r, url = repo
    root = tmp_path / "root.json"
    root.write_bytes(r.initial_root())
    env = {"TUF_ROOT": str(tmp_path / "tuf")}
    assert sigstack("initialize", "--mirror", url, "--root", root, env=env).code == 0
    conformance = PUBLIC_GOOD.parent / "bundle-verify"
    identity = ("https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/"
                "extremely-dangerous-oidc-beacon.yml@refs/heads/main")
    argv = ("verify-blob", "--bundle", conformance / "happy-path-v0.3" / "bundle.sigstore.json",
            "--certificate-identity", identity, "--certificate-oidc-issuer",
            "https://token.actions.githubusercontent.com", conformance / "a.txt")
    ok = sigstack(*argv, "--offline", env=env, offline=None)
    assert ok.code == 0 and "Verified OK" in ok.err, ok.err
    # an empty cache with --offline: one clear error, no network
    assert_clean_error(sigstack(*argv, "--offline", env={"TUF_ROOT": str(tmp_path / "empty")}, offline=None),
                       "TUF:")
