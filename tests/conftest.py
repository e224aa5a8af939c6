"""Shared test set-up."""

from __future__ import annotations

from typing import Any

import aioresponses.core
from aiohttp import ClientResponse
from yarl import URL


class _SentStreamWriter:
    """Stands in for the stream writer of a request that aioresponses never really sent."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without ``stream_writer`` (required by aiohttp 3.14)."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentStreamWriter())
        super().__init__(method, url, **kwargs)


# aioresponses.core uses aiohttp's ClientResponse under that name without re-exporting it (so
# mypy calls the attribute private); replacing that very name is the point of the patch.
aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[attr-defined]
