"""The server's listening socket: 127.0.0.1 only, TCP_NODELAY, clear port-in-use error."""

from __future__ import annotations

import socket

import pytest

from autoscope.catalog.server import bind_socket
from autoscope.errors import CatalogError


def test_listens_on_loopback_and_connections_have_nodelay():
    sock = bind_socket(0)
    try:
        host, port = sock.getsockname()
        assert host == "127.0.0.1" and port > 0
        with socket.create_connection((host, port)) as client:
            conn, _ = sock.accept()
            with conn:
                # without it every kept-alive request waits for a delayed ACK (~40 ms)
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert client.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()


def test_port_in_use_names_the_port_and_the_way_out():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        with pytest.raises(CatalogError, match=f"port {port} on 127.0.0.1 is in use; .*--port"):
            bind_socket(port)
