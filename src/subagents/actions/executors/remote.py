"""What HTTP and gRPC action endpoints share: the request headers (bearer ``token`` or
``basic_auth``, plus extra ``headers``) and the TLS material (``cafile``, and the client
certificate ``ssl_client_cert`` + ``ssl_client_key`` for servers that require one).

Files are read when the executor is built, so a missing or unreadable file is a
:class:`~subagents.errors.ConfigError` naming the field at start, never a failure at the
first action call.
"""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

from subagents.config.models import ActionEndpointConfig
from subagents.errors import ConfigError

FILE = "endpoints.yml"


def auth_headers(cfg: ActionEndpointConfig) -> dict[str, str]:
    """``Authorization`` (bearer token or basic auth) and the extra headers of ``cfg``.

    An extra header named ``Authorization`` wins over the one made from token/basic_auth.
    """
    headers: dict[str, str] = {}
    if cfg.token:
        headers["Authorization"] = f"Bearer {cfg.token}"
    if cfg.basic_auth is not None:
        pair = f"{cfg.basic_auth.username}:{cfg.basic_auth.password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
    for name, value in cfg.headers.items():
        for existing in [h for h in headers if h.lower() == name.lower()]:
            del headers[existing]
        headers[name] = value
    return headers


def resolve(path: str, project_root: str | Path | None) -> Path:
    """``path`` relative to the project directory (absolute paths as they are)."""
    found = Path(path).expanduser()
    if not found.is_absolute() and project_root is not None:
        found = Path(project_root) / found
    return found


def read_file(path: str, field: str, project_root: str | Path | None) -> bytes:
    """The bytes of the file ``action_endpoint.<field>`` names, or a ConfigError."""
    where = resolve(path, project_root)
    try:
        return where.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read action_endpoint.{field} {str(where)!r}: {exc.strerror}",
            file=FILE,
            field=f"action_endpoint.{field}",
        ) from exc


def ssl_context(cfg: ActionEndpointConfig, project_root: str | Path | None) -> ssl.SSLContext:
    """The client TLS context: ``cafile`` (else the system roots) and the client
    certificate, when configured."""
    cafile = None
    if cfg.cafile:
        read_file(cfg.cafile, "cafile", project_root)  # a clear error for a missing file
        cafile = str(resolve(cfg.cafile, project_root))
    try:
        context = ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise ConfigError(
            f"action_endpoint.cafile {cafile!r} is not a PEM CA bundle: {exc}",
            file=FILE,
            field="action_endpoint.cafile",
        ) from exc
    if cfg.ssl_client_cert and cfg.ssl_client_key:
        cert = resolve(cfg.ssl_client_cert, project_root)
        key = resolve(cfg.ssl_client_key, project_root)
        read_file(cfg.ssl_client_cert, "ssl_client_cert", project_root)
        read_file(cfg.ssl_client_key, "ssl_client_key", project_root)
        try:
            context.load_cert_chain(cert, key)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"action_endpoint.ssl_client_cert / ssl_client_key ({cert}, {key}) are not a"
                f" matching PEM certificate and private key: {exc.reason or exc}",
                file=FILE,
                field="action_endpoint.ssl_client_cert",
            ) from exc
    return context


__all__ = ["auth_headers", "read_file", "resolve", "ssl_context"]
