"""Small network helpers shared by the runtimes, the benchmarks and the tests."""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free now.

    The port is released before it is returned, so whoever binds it next (an
    engine, a test server) does so a moment later; another process could take
    it in between, which on a test or benchmark machine does not happen in
    practice.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
