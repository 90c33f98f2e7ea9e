"""A throw-away certificate authority for TLS tests against servers on 127.0.0.1."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

__all__ = ["server_tls"]


def server_tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a certificate for 127.0.0.1, and the CA file a client must trust."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server_context, ca_file
