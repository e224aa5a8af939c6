"""Shared test set-up."""

from __future__ import annotations

from typing import Any

import aioresponses.core
from aiohttp import ClientResponse


class _SentStreamWriter:
    """Stands in for the stream writer of a request that aioresponses never really sent."""

    output_size = 0


class _CompatClientResponse(ClientResponse):
    """aioresponses 0.7.9 builds ClientResponse without ``stream_writer`` (required by aiohttp 3.14)."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _SentStreamWriter())
        super().__init__(method, url, **kwargs)


aioresponses.core.ClientResponse = _CompatClientResponse  # type: ignore[misc]
