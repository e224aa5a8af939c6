"""`CredentialStub`: the base of a fake ``AsyncTokenCredential``.

azure-core's protocol is also an async context manager; the fakes never need one, but with this
base they are an ``AsyncTokenCredential`` to the type checker, without a ``type: ignore``. A
fake defines ``get_token`` (and ``close``, if closing should be seen).
"""

from __future__ import annotations

from typing import Self


class CredentialStub:
    """``close`` that does nothing, and ``async with`` that closes on the way out."""

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
