"""The storage layouts interface (:mod:`sigstack.oci.layouts`) against the real
registry: each layout lists what the library wrote in it, a ``save`` directory is read
through the same layouts, and the target repository and Docker media types are the
caller's parameters (the library never reads ``COSIGN_REPOSITORY`` or
``COSIGN_DOCKER_MEDIA_TYPES``; the CLI does, and passes them in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ocihelpers import Registry, fresh, one_error
from tests.helpers import sigstack

from sigstack import keys
from sigstack.errors import NoSignaturesError, RegistryError
from sigstack.oci import layout
from sigstack.oci.attach import attach_sbom
from sigstack.oci.client import DOCKER_MANIFEST, OCI_MANIFEST, RegistryClient
from sigstack.oci.layouts import BUNDLES, LAYOUTS, LEGACY, OCI11, SignedEntity, StoredBundle, signatures
from sigstack.oci.ocilayout import open_local_image
from sigstack.oci.reference import parse_reference
from sigstack.oci.saveload import save
from sigstack.sign.attest import attest_image
from sigstack.sign.image import ImageSignOptions, sign_image
from sigstack.verify.evidence import LogPolicy
from sigstack.verify.image import ImageVerifyOptions, verify_image


def _sign_every_way(client: RegistryClient, keypair: tuple[Path, Path], img: str) -> None:
    signer = keys.load_signer(str(keypair[0]), b"pw")
    ref = parse_reference(img)
    for opts in (ImageSignOptions(), ImageSignOptions(referrers_mode="oci-1-1"),
                 ImageSignOptions(new_bundle_format=True)):
        sign_image(client, signer, ref, opts)
    attest_image(client, signer, ref, b'{"a":1}', "slsaprovenance")
    attach_sbom(client, ref, b'{"spdxVersion":"SPDX-2.3"}', "text/spdx+json")


def test_each_layout_lists_what_was_written(registry: Registry, keypair) -> None:
    img = fresh(registry)
    ref = parse_reference(img)
    with RegistryClient() as client:
        _sign_every_way(client, keypair, img)
        entity = SignedEntity.at(client, ref.repository, ref.digest or "")
        legacy, oci11 = LEGACY.signatures(entity), OCI11.signatures(entity)
        assert [r.layout for r in legacy] == ["legacy"] and [r.layout for r in oci11] == ["oci-1-1"]
        for record in legacy + oci11:
            stored = record.fetch()
            assert stored.digest == record.digest and stored.media_type == layout.SIMPLESIGNING_MEDIA
            assert json.loads(stored.data)["critical"]["image"]["docker-manifest-digest"] == ref.digest
        bundles = BUNDLES.read(entity)
        assert len(bundles) == 1 and isinstance(bundles[0], StoredBundle)
        assert BUNDLES.references(entity) == [ref.repository.digest(bundles[0].manifest_digest)]
        # every referrer is a bundle candidate (cosign lists them unfiltered): the oci-1-1
        # signature referrer is listed too, and skipped when read
        assert [r.layout for r in signatures(entity, LAYOUTS)] == ["legacy", "oci-1-1", "bundle", "bundle"]
        att = [r.fetch() for r in LEGACY.attestations(entity)]
        assert len(att) == 1 and att[0].annotations["predicateType"] == "https://slsa.dev/provenance/v0.2"
        assert [r.fetch().data for r in LEGACY.sboms(entity)] == [b'{"spdxVersion":"SPDX-2.3"}']
        assert [r.name for r in LEGACY.references(entity)] == [
            f"{ref.repository.name}:{layout.attachment_tag(ref.digest or '', s)}" for s in ("sig", "att", "sbom")]
        owned = OCI11.references(entity)  # the oci-1-1 signature referrer, not the bundle
        assert len(owned) == 1 and owned[0] not in BUNDLES.references(entity)


def test_saved_directory_is_read_through_the_same_layouts(registry: Registry, keypair, tmp_path: Path) -> None:
    img = fresh(registry)
    ref = parse_reference(img)
    out = tmp_path / "saved"
    with RegistryClient() as client:
        _sign_every_way(client, keypair, img)
        online = SignedEntity.at(client, ref.repository, ref.digest or "")
        save(client, ref, str(out))
        source, local_ref = open_local_image(out)
        offline = SignedEntity.at(source, local_ref.repository, local_ref.digest or "")
        for read in (LEGACY.signatures, OCI11.signatures, LEGACY.attestations):
            assert [r.fetch() for r in read(offline)] == [r.fetch() for r in read(online)]
        assert [b.data for b in BUNDLES.read(offline)] == [b.data for b in BUNDLES.read(online)]
    with pytest.raises(RegistryError, match="read-only view"):
        LEGACY.add_signature(offline, layout.Layer(layout.SIMPLESIGNING_MEDIA, b"{}"))


def test_target_repository_is_a_parameter_not_the_environment(registry: Registry, keypair,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    img = fresh(registry)
    ref = parse_reference(img)
    elsewhere = registry.repo()
    monkeypatch.setenv("COSIGN_REPOSITORY", registry.repo())
    signer, verifier = keys.load_signer(str(keypair[0]), b"pw"), keys.load_verifier(str(keypair[1]))
    with RegistryClient() as client:
        sign_image(client, signer, ref, ImageSignOptions(target_repository=elsewhere))
        sig_tag = layout.attachment_tag(ref.digest or "", "sig")
        assert client.list_tags(parse_reference(elsewhere + ":x").repository) == [sig_tag]
        assert sig_tag not in client.list_tags(ref.repository)
        ok = verify_image(client, verifier, ref,
                          ImageVerifyOptions(target_repository=elsewhere, log=LogPolicy(insecure_ignore_tlog=True)))
        assert len(ok.signatures) == 1
        with pytest.raises(NoSignaturesError):
            verify_image(client, verifier, ref, ImageVerifyOptions(log=LogPolicy(insecure_ignore_tlog=True)))
        with pytest.raises(RegistryError, match="parsing the target repository 'UPPER/case'"):
            sign_image(client, signer, ref, ImageSignOptions(target_repository="UPPER/case"))


def test_docker_media_types_are_a_parameter(registry: Registry, keypair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSIGN_DOCKER_MEDIA_TYPES", "1")  # the library does not read it
    signer = keys.load_signer(str(keypair[0]), b"pw")
    with RegistryClient() as client:
        for docker, media in ((False, OCI_MANIFEST), (True, DOCKER_MANIFEST)):
            ref = parse_reference(fresh(registry))
            sign_image(client, signer, ref, ImageSignOptions(docker_types=docker))
            tag = ref.repository.tag(layout.attachment_tag(ref.digest or "", "sig"))
            assert client.get_manifest(tag).media_type == media


def test_cli_reads_cosign_repository_and_names_it(registry: Registry, keypair) -> None:
    img = fresh(registry)
    r = sigstack("triangulate", img, env={"COSIGN_REPOSITORY": "UPPER/case"})
    one_error(r, 1, "parsing COSIGN_REPOSITORY:")
