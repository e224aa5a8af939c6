"""A proxy.py plugin for `test_proxy.py`: one line per request the proxy relays.

proxy.py's own access log has one line per client *connection*, so keep-alive requests after
the first are not in it. This plugin sees every request (``handle_client_request`` runs for each
one on a kept-alive connection too) and appends ``METHOD host:port/path?query`` to the file
named by ``PROXY_REQUESTS_FILE``. It runs inside the proxy.py subprocess (``--plugins
proxy_counter.RequestCounter`` with this directory on ``PYTHONPATH``).
"""

from __future__ import annotations

import os

from proxy.http.parser import HttpParser
from proxy.http.proxy import HttpProxyBasePlugin


class RequestCounter(HttpProxyBasePlugin):
    """Appends each relayed request to ``$PROXY_REQUESTS_FILE``, then relays it unchanged."""

    def handle_client_request(self, request: HttpParser) -> HttpParser:
        method = (request.method or b"?").decode()
        host = (request.host or b"?").decode()
        path = (request.path or b"/").decode()
        with open(os.environ["PROXY_REQUESTS_FILE"], "a", encoding="utf-8") as log:
            log.write(f"{method} {host}:{request.port}{path}\n")
        return request
