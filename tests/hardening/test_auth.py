"""Authentication of the conversation API, as Rasa's server does it."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from subagents.channels.auth import AuthSettings
from subagents.cli import _warn_exposed, err, is_loopback
from subagents.server import ServerSettings

SECRET = "a-jwt-secret-that-is-long-enough-for-hs256"
WEBHOOK = "/webhooks/rest/webhook"


def token_for(payload: dict[str, Any], secret: str = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_token_guards_the_tracker(served: Any) -> None:
    # Before: anyone could read any conversation.
    app = await served(ServerSettings(auth=AuthSettings(token="s3cret-token")))
    assert (await app.client.post(WEBHOOK, json={"sender": "alice", "message": "/trip"})).is_success
    path = "/conversations/alice/tracker"
    missing = await app.client.get(path)
    assert missing.status_code == 401
    assert "token" in missing.json()["error"]
    assert (await app.client.get(path, params={"token": "wrong"})).status_code == 401
    # A non-ASCII token is a 401, never a 500.
    assert (await app.client.get(path, params={"token": "pässwörd\u2603"})).status_code == 401
    assert (
        await app.client.get(
            path, headers={"Authorization": "Bearer \u00e9t\u00e9".encode("utf-8")}
        )
    ).status_code == 401
    ok = await app.client.get(path, params={"token": "s3cret-token"})
    assert ok.status_code == 200
    assert ok.json()["sender_id"] == "alice"
    assert (await app.client.get(path, headers=bearer("s3cret-token"))).status_code == 200
    # Health, readiness and the API description stay public.
    for public in ("/health", "/ready", "/openapi.json"):
        assert (await app.client.get(public)).status_code == 200


async def test_jwt_user_reads_only_its_own_conversation_admin_reads_all(served: Any) -> None:
    app = await served(ServerSettings(auth=AuthSettings(jwt_secret=SECRET)))
    alice = token_for({"user": {"username": "alice", "role": "user"}})
    admin = token_for({"user": {"username": "ops", "role": "admin"}})
    sender_claim = token_for({"sender": "carol"})
    assert (
        await app.client.get("/conversations/alice/tracker", headers=bearer(alice))
    ).status_code == 200
    denied = await app.client.get("/conversations/bob/tracker", headers=bearer(alice))
    assert denied.status_code == 403
    assert "'bob'" in denied.json()["error"]
    assert (
        await app.client.get("/conversations/bob/tracker", headers=bearer(admin))
    ).status_code == 200
    assert (
        await app.client.get("/conversations/carol/tracker", headers=bearer(sender_claim))
    ).status_code == 200
    forged = token_for(
        {"user": {"username": "bob", "role": "admin"}},
        secret="not-the-secret-at-all-but-as-long-as-it",
    )
    assert (
        await app.client.get("/conversations/bob/tracker", headers=bearer(forged))
    ).status_code == 401
    expired = token_for({"user": {"username": "alice"}, "exp": int(time.time()) - 10})
    assert (
        await app.client.get("/conversations/alice/tracker", headers=bearer(expired))
    ).status_code == 401
    nobody = token_for({"role": "user"})
    assert (
        await app.client.get("/conversations/alice/tracker", headers=bearer(nobody))
    ).status_code == 403


async def test_jwt_rs256_with_a_public_key(served: Any) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = await served(
        ServerSettings(auth=AuthSettings(jwt_secret=public.decode(), jwt_method="RS256"))
    )
    token = jwt.encode({"user": {"username": "dora"}}, key, algorithm="RS256")
    assert (
        await app.client.get("/conversations/dora/tracker", headers=bearer(token))
    ).status_code == 200
    hs = token_for({"user": {"username": "dora"}})  # algorithm confusion is refused
    assert (
        await app.client.get("/conversations/dora/tracker", headers=bearer(hs))
    ).status_code == 401


async def test_protected_webhook_posts_only_as_the_token_user(served: Any) -> None:
    # Before: anyone could post as any sender and /restart someone else's conversation.
    app = await served(ServerSettings(auth=AuthSettings(jwt_secret=SECRET, protect_webhook=True)))
    alice = token_for({"user": {"username": "alice"}})
    anonymous = await app.client.post(WEBHOOK, json={"sender": "bob", "message": "/restart"})
    assert anonymous.status_code == 401
    as_bob = await app.client.post(
        WEBHOOK, json={"sender": "bob", "message": "/restart"}, headers=bearer(alice)
    )
    assert as_bob.status_code == 403
    assert await app.events("bob") == []
    own = await app.client.post(
        WEBHOOK, json={"sender": "alice", "message": "/trip"}, headers=bearer(alice)
    )
    assert own.json() == [{"recipient_id": "alice", "text": "Which city?"}]


async def test_webhook_stays_open_unless_protected(served: Any) -> None:
    app = await served(ServerSettings(auth=AuthSettings(token="s3cret-token")))
    reply = await app.client.post(WEBHOOK, json={"sender": "x", "message": "/trip"})
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_warns_when_exposed_without_auth() -> None:
    with err.capture() as captured:
        _warn_exposed("0.0.0.0", AuthSettings())
        _warn_exposed("0.0.0.0", AuthSettings(token="t0ken"))
        _warn_exposed("127.0.0.1", AuthSettings())
    text = captured.get()
    assert text.count("warning:") == 1
    assert "without authentication" in text and "--auth-token" in text
