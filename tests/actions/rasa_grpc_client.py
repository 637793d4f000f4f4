"""A Rasa-style gRPC caller built from the Rasa SDK's own generated stubs.

Run with the Rasa SDK venv's python: ``rasa_grpc_client.py HOST:PORT``. Calls our server's
Webhook (domain handshake: first without the domain) and WebhookStream, prints JSON.
"""

import json
import sys

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict
from rasa_sdk.grpc_py import action_webhook_pb2 as pb
from rasa_sdk.grpc_py import action_webhook_pb2_grpc as pb_grpc

TRACKER = {
    "sender_id": "rasa-caller",
    "slots": {"name": "Rasa", "tokens": ["x", "y", "z"]},
    "latest_message": {"text": "hi"},
    "events": [],
    "paused": False,
    "active_loop": {},
}
DOMAIN = {
    "intents": [{"string_value": "greet"}],
    "responses": {"utter_goodbye": [{"text": "Bye"}]},
    "actions": [{"string_value": "action_greet"}],
}


def request(action, with_domain):
    body = {
        "next_action": action,
        "sender_id": "rasa-caller",
        "tracker": TRACKER,
        "version": "3.21.0",
        "domain_digest": "digest-1",
    }
    if with_domain:
        body["domain"] = DOMAIN
    return ParseDict(body, pb.WebhookRequest())


def main():
    out = {}
    with grpc.insecure_channel(sys.argv[1]) as channel:
        stub = pb_grpc.ActionServiceStub(channel)
        try:
            stub.Webhook(request("action_greet", False), timeout=10)
        except grpc.RpcError as exc:
            out["without_domain"] = [exc.code().name, json.loads(exc.details())]
        reply = stub.Webhook(request("action_greet", True), timeout=10)
        out["webhook"] = MessageToDict(reply, preserving_proto_field_name=True)
        events = []
        for event in stub.WebhookStream(request("action_stream", False), timeout=10):
            kind = event.WhichOneof("event")
            events.append([kind, MessageToDict(getattr(event, kind))])
        out["stream"] = events
        try:
            stub.Webhook(request("action_reject", False), timeout=10)
        except grpc.RpcError as exc:
            out["reject"] = [exc.code().name, json.loads(exc.details())]
        try:
            stub.Webhook(request("action_nope", False), timeout=10)
        except grpc.RpcError as exc:
            out["unknown"] = [exc.code().name, json.loads(exc.details())]
        actions = stub.Actions(pb.ActionsRequest(), timeout=10)
        out["actions"] = [a["name"] for a in MessageToDict(actions).get("actions", [])]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
