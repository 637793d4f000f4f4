"""Shared helpers of the actions tests: the test actions package, tracker and domain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECT = Path(__file__).parent / "project"
MODULE = "sa_test_actions"


def tracker_state(sender_id: str = "u1", **slots: Any) -> dict[str, Any]:
    """A Rasa-shaped tracker state with ``slots``."""
    return {
        "sender_id": sender_id,
        "conversation_id": sender_id,
        "slots": dict(slots),
        "latest_message": {"text": "hi", "intent": {"name": "greet"}, "entities": []},
        "latest_event_time": 1.0,
        "followup_action": None,
        "paused": False,
        "events": [{"event": "user", "text": "hi", "timestamp": 1.0}],
        "latest_input_channel": "rest",
        "active_loop": {},
        "latest_action": {"action_name": "action_listen"},
        "latest_action_name": "action_listen",
    }


DOMAIN: dict[str, Any] = {
    "config": {"store_entities_as_slots": True},
    "session_config": {"session_expiration_time": 60},
    "intents": ["greet", {"bye": {"use_entities": []}}],
    "entities": [],
    "slots": {"name": {"type": "text"}},
    "responses": {"utter_goodbye": [{"text": "Bye"}], "utter_greet": [{"text": "Hi"}]},
    "actions": ["action_greet", "action_stream"],
    "forms": {},
    "e2e_actions": [],
}


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1/localhost; return (cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def mutual_tls_certs(directory: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by
    the CA (PEM files in ``directory``): ``ca``, ``server_cert``, ``server_key``,
    ``client_cert``, ``client_key``, and ``stranger_cert``/``stranger_key`` (a client
    certificate the CA did not sign)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    def issue(subject: str, issuer: str, key: Any, signer: Any, **kind: Any) -> Any:
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=kind.get("ca", False), path_length=None), True)
        )
        if "san" in kind:
            builder = builder.add_extension(x509.SubjectAlternativeName(kind["san"]), False)
        if "usage" in kind:
            builder = builder.add_extension(x509.ExtendedKeyUsage([kind["usage"]]), False)
        return builder.sign(signer, hashes.SHA256())

    def write(stem: str, cert: Any, key: Any) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("test CA", "test CA", ca_key, ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    localhost = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = issue(
        "localhost",
        "test CA",
        server_key,
        ca_key,
        san=localhost,
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue(
        "assistant", "test CA", client_key, ca_key, usage=ExtendedKeyUsageOID.CLIENT_AUTH
    )
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = issue("stranger", "stranger", stranger_key, stranger_key)
    paths: dict[str, Path] = {"ca": write("ca", ca, ca_key)[0]}
    paths["server_cert"], paths["server_key"] = write("server", server, server_key)
    paths["client_cert"], paths["client_key"] = write("client", client, client_key)
    paths["stranger_cert"], paths["stranger_key"] = write("stranger", stranger, stranger_key)
    return paths
