"""Start the Rasa SDK action server (run with the Rasa SDK venv's python).

The Rasa SDK's gRPC server binds every interface; tests bind loopback only, so the
port initialiser is replaced before ``rasa_sdk``'s own ``main()`` runs. HTTP mode honours
``SANIC_HOST`` (set by the test to 127.0.0.1).
"""

import sys

import rasa_sdk.grpc_server as grpc_server
from rasa_sdk.__main__ import main


def _bind_loopback(server, port=5055, *args, **kwargs):
    server.add_insecure_port(f"127.0.0.1:{port}")


grpc_server._initialise_port = _bind_loopback

if __name__ == "__main__":
    sys.exit(main())
