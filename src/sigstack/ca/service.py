"""The CA service without HTTP: verify the token, the key and its proof, then issue."""

from __future__ import annotations

from sigstack.ca.authority import CertificateAuthority, Issued, check_public_key, verify_proof
from sigstack.ca.certrequest import CertRequest
from sigstack.ca.config import CAConfig
from sigstack.ca.tokens import TokenVerifier


class CAService:
    def __init__(self, authority: CertificateAuthority, config: CAConfig,
                 verifier: TokenVerifier | None = None) -> None:
        self.authority = authority
        self.config = config
        self.verifier = verifier or TokenVerifier(config)

    async def sign(self, request: CertRequest) -> Issued:
        principal, _ = await self.verifier.verify(request.token)
        key = check_public_key(request.public_key)
        if request.proof is not None:
            verify_proof(key, request.proof, principal.name)
        return await self.authority.issue(principal, key)

    def trust_bundle(self) -> list[list[str]]:
        from cryptography.hazmat.primitives import serialization

        return [[c.public_bytes(serialization.Encoding.PEM).decode() for c in self.authority.chain]]
