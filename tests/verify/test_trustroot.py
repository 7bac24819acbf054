"""TrustedRoot / SigningConfig / ClientTrustConfig models: strict parsing, lossless
round trips, lookups, on the real public-good and conformance files."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sigstack.bundle.trustroot import (
    TRUSTED_ROOT_V02,
    ClientTrustConfig,
    SigningConfig,
    TrustedRoot,
    TrustRootError,
    parse_time,
    parse_trusted_root,
)
from tests.verify._vectors import BUNDLES, CONFORMANCE

PROD = CONFORMANCE / "public-good-trust" / "production"
STAGING = CONFORMANCE / "public-good-trust" / "staging"
ALL_ROOTS = sorted(CONFORMANCE.glob("**/trusted_root.json")) + sorted((BUNDLES / "trust").glob("*.json"))


def _without_nulls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _doc(path: Path = PROD / "trusted_root.json") -> dict[str, object]:
    return json.loads(path.read_bytes())  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", [p for p in ALL_ROOTS if "missing-validity-start" not in str(p)],
                         ids=lambda p: p.parent.name)
def test_every_shipped_root_round_trips(path: Path) -> None:
    """Nothing is lost: what we write is what we read, less explicit JSON nulls."""
    root = TrustedRoot.from_json(path.read_bytes())
    assert root.to_dict() == _without_nulls(json.loads(path.read_bytes()))
    assert TrustedRoot.from_json(root.to_json()).to_dict() == root.to_dict()


def test_production_lookups() -> None:
    root = TrustedRoot.from_json((PROD / "trusted_root.json").read_bytes())
    v1 = root.tlog(base64.b64decode("wNI9atQGlz+VWfO6LRygH4QUfY/8W4RFwiT5i5WRgB0="))
    assert v1 is not None and v1.base_url == "https://rekor.sigstore.dev"
    v2 = root.tlog(base64.b64decode("zxGZFVvd0FEmjR8WrFwMdcAJ9vtaY/QXf44Y1wUeP6A="))
    assert v2 is not None and v2.key_details == "PKIX_ED25519"
    # the v2 log's key is valid from 2025-09-23 only
    assert root.tlog(v2.log_id, at=datetime(2025, 1, 1, tzinfo=UTC)) is None
    assert root.tlog(v2.log_id, at=datetime(2025, 9, 23, tzinfo=UTC)) is v2
    assert root.tlog(b"\0" * 32) is None
    # the first Fulcio CA ends 2022-12-31T23:59:59.999Z, inclusive
    end = datetime(2022, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
    assert len(root.certificate_authorities_at(end)) == 2
    assert len(root.certificate_authorities_at(end + timedelta(milliseconds=1))) == 1
    assert root.timestamp_authorities_at(datetime(2025, 7, 4, tzinfo=UTC))
    assert not root.timestamp_authorities_at(datetime(2025, 7, 3, tzinfo=UTC))
    ct = root.ctlog(base64.b64decode("3T0wasbHETJjGR4cmWc3AqJKXrjePK3/h4pygC8p7o4="))
    assert ct is not None and ct.base_url == "https://ctfe.sigstore.dev/2022"
    assert len(root.certificate_authorities[1].certs()) == 2


def test_media_type_0_2_with_checkpoint_key_id_and_operator() -> None:
    doc = _doc()
    doc["mediaType"] = TRUSTED_ROOT_V02
    tlog = doc["tlogs"][1]  # type: ignore[index]
    tlog["checkpointKeyId"] = {"keyId": tlog["logId"]["keyId"]}
    tlog["operator"] = "sigstore.dev"
    doc["futureField"] = {"kept": True}
    root = TrustedRoot.from_dict(doc)
    assert root.tlogs[1].checkpoint_key_id == root.tlogs[1].log_id
    assert root.tlogs[1].operator == "sigstore.dev"
    assert root.to_dict() == doc


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda d: d.update(mediaType="application/json"), "unknown mediaType"),
    (lambda d: d["tlogs"][0]["publicKey"].pop("rawBytes"), "tlogs[0].publicKey has no rawBytes"),
    (lambda d: d["tlogs"][0]["logId"].update(keyId="!!"), "tlogs[0].logId.keyId is not base64"),
    (lambda d: d["tlogs"][0]["publicKey"]["validFor"].pop("start"), "tlogs[0].publicKey.validFor is missing its start"),
    (lambda d: d["ctlogs"][0]["publicKey"]["validFor"].update(end="yesterday"), "is not an RFC 3339 time"),
    (lambda d: d["certificateAuthorities"][0].pop("validFor"), "certificateAuthorities[0] has no validFor"),
    (lambda d: d["certificateAuthorities"][0]["certChain"].update(certificates=[]), "has no certificates"),
    (lambda d: d.update(tlogs={}), "tlogs must be a list"),
    (lambda d: d["timestampAuthorities"][0].update(uri=5), "timestampAuthorities[0].uri must be a string"),
])
def test_strict_parsing(mutate: object, words: str) -> None:
    doc = _doc()
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(TrustRootError, match=None) as info:
        TrustedRoot.from_dict(doc)
    assert words in str(info.value)


def test_not_json() -> None:
    with pytest.raises(TrustRootError, match="invalid trusted root: not JSON"):
        TrustedRoot.from_json(b"{")


def test_unparseable_key_fails_only_when_used() -> None:
    doc = _doc()
    doc["ctlogs"][0]["publicKey"]["rawBytes"] = base64.b64encode(b"not a key").decode()  # type: ignore[index]
    root = TrustedRoot.from_dict(doc)
    with pytest.raises(TrustRootError, match="cannot be parsed"):
        root.ctlogs[0].public_key()
    root.ctlogs[1].public_key()


def test_rfc3339_forms() -> None:
    assert parse_time("2022-12-31T23:59:59.999Z", "t").microsecond == 999000
    assert parse_time("2022-12-31T23:59:59.123456789Z", "t").microsecond == 123456
    assert parse_time("2023-01-01T01:00:00+01:00", "t") == datetime(2023, 1, 1, tzinfo=UTC)


def test_legacy_parse_trusted_root_keeps_working() -> None:
    logs = parse_trusted_root((PROD / "trusted_root.json").read_bytes())
    assert [t.base_url for t in logs] == ["https://rekor.sigstore.dev", "https://log2025-1.rekor.sigstore.dev"]
    doc = _doc()
    doc["tlogs"] = []
    with pytest.raises(TrustRootError, match="lists no transparency logs"):
        parse_trusted_root(json.dumps(doc).encode())


@pytest.mark.parametrize("where", [PROD, STAGING], ids=["production", "staging"])
def test_signing_config(where: Path) -> None:
    raw = json.loads((where / "signing_config.v0.2.json").read_bytes())
    cfg = SigningConfig.from_json((where / "signing_config.v0.2.json").read_bytes())
    assert cfg.ca_urls and cfg.rekor_tlog_urls
    assert all(s.major_api_version >= 1 for s in cfg.rekor_tlog_urls)
    again = SigningConfig.from_dict(cfg.to_dict())
    assert again == cfg
    assert len(cfg.tsa_urls) == len(raw.get("tsaUrls", []))


def test_signing_config_strict() -> None:
    raw = json.loads((PROD / "signing_config.v0.2.json").read_bytes())
    raw["rekorTlogConfig"] = {"selector": "SOME"}
    with pytest.raises(TrustRootError, match="selector must be one of"):
        SigningConfig.from_dict(raw)
    raw["rekorTlogConfig"] = {"selector": "EXACT"}
    with pytest.raises(TrustRootError, match="EXACT needs a count"):
        SigningConfig.from_dict(raw)


def test_client_trust_config_round_trip() -> None:
    cfg = ClientTrustConfig(TrustedRoot.from_json((PROD / "trusted_root.json").read_bytes()),
                            SigningConfig.from_json((PROD / "signing_config.v0.2.json").read_bytes()))
    again = ClientTrustConfig.from_json(cfg.to_json())
    assert again.trusted_root.to_dict() == cfg.trusted_root.to_dict()
    assert again.signing_config == cfg.signing_config
    with pytest.raises(TrustRootError, match="client trust config: unknown mediaType"):
        ClientTrustConfig.from_json(b'{"mediaType": "x"}')
