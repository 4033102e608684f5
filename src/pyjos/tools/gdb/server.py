"""Serve the gdb remote protocol over TCP, one client at a time.

`GdbServer.start` binds and returns at once; connections are accepted and
served on the server's own threads, so the machine never waits for a
debugger.  A second client while one is attached is refused (closed).
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable

from .session import KILLED, Session
from .target import Target

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1234
_POLL = 0.2  # seconds between checks for close()


def parse_address(text: str) -> tuple[str, int]:
    """Parse ``[HOST:]PORT`` (default host 127.0.0.1); ValueError with a clear message."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"bad gdb address {text!r}: expected [HOST:]PORT, PORT 0 to 65535")
    return host, int(port)


class GdbServer:
    """Listens on (host, port) and serves gdb clients for `target`."""

    def __init__(self, target: Target, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 log: Callable[[str], None] | None = None):
        self.target = target
        self.host, self.port = host, port
        self.log = log or (lambda line: None)
        self.sessions = 0  # clients served so far
        self.killed = threading.Event()  # a client sent k
        self._listener: socket.socket | None = None
        self._closing = threading.Event()
        self._accepter: threading.Thread | None = None
        self._session: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        """Bind and listen; return the bound (host, port).  OSError if it cannot bind."""
        listener = socket.create_server((self.host, self.port), reuse_port=False)
        self._listener = listener
        self.host, self.port = listener.getsockname()[:2]
        self._accepter = threading.Thread(target=self._accept_loop, name="gdb-accept",
                                          daemon=True)
        self._accepter.start()
        return self.host, self.port

    def close(self) -> None:
        """Stop listening; a session in progress ends when its client goes."""
        self._closing.set()
        if self._accepter is not None:
            self._accepter.join()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the server no longer listens (close() or a k); True if so."""
        if self._accepter is not None:
            self._accepter.join(timeout)
        return self._accepter is None or not self._accepter.is_alive()

    def attached(self) -> bool:
        """True while a client is connected."""
        return self._session is not None and self._session.is_alive()

    def wait_session(self, timeout: float | None = None) -> None:
        """Wait for the current session (if any) to end."""
        if self._session is not None:
            self._session.join(timeout)

    def _accept_loop(self) -> None:
        """Accept clients until close() or a k; then stop listening."""
        with self._listener:
            while not self._closing.is_set() and not self.killed.is_set():
                self._accept_one()

    def _accept_one(self) -> None:
        ready, _, _ = select.select([self._listener], [], [], _POLL)
        if not ready:
            return
        try:
            conn, peer = self._listener.accept()
        except OSError:
            return
        if self.attached():
            self.log(f"gdb: refused {peer[0]}:{peer[1]}: a debugger is already attached")
            conn.close()
            return
        self._session = threading.Thread(target=self._serve, args=(conn, peer),
                                         name="gdb-session", daemon=True)
        self._session.start()

    def _serve(self, conn: socket.socket, peer: tuple) -> None:
        self.sessions += 1
        self.log(f"gdb: connection from {peer[0]}:{peer[1]}")
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            outcome = Session(self.target, conn, self.log).serve()
        self.log(f"gdb: session {outcome}")
        if outcome == KILLED:
            self.killed.set()
