"""The gdb server's TCP side: addresses, binding, one client at a time, kill."""

from __future__ import annotations

import socket

import pytest

from gdbfake import FakeTarget
from pyjos.tools.gdb import GdbServer, parse_address
from pyjos.tools.gdb.packet import frame


@pytest.mark.parametrize("text, expected", [
    ("1234", ("127.0.0.1", 1234)), (":0", ("127.0.0.1", 0)),
    ("0.0.0.0:4000", ("0.0.0.0", 4000)), ("localhost:1", ("localhost", 1)),
    ("[::1]:1234", ("::1", 1234))])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:port", "65536", "-1", "1.2.3.4:99999"])
def test_parse_address_rejects(text):
    with pytest.raises(ValueError, match=r"expected \[HOST:\]PORT"):
        parse_address(text)


def test_busy_port_is_an_oserror():
    first = GdbServer(FakeTarget(), port=0)
    host, port = first.start()
    try:
        with pytest.raises(OSError):
            GdbServer(FakeTarget(), host=host, port=port).start()
    finally:
        first.close()


def test_start_does_not_wait_for_a_client():
    srv = GdbServer(FakeTarget(), port=0)
    srv.start()
    assert not srv.attached() and srv.sessions == 0
    srv.close()


def test_kill_ends_serving():
    target = FakeTarget()
    srv = GdbServer(target, port=0)
    host, port = srv.start()
    with socket.create_connection((host, port)) as conn:
        conn.sendall(frame(b"k"))
        assert conn.recv(1) == b"+"
        assert srv.killed.wait(5)
    srv.wait_session(5)
    assert target.killed
    assert srv.wait_stopped(5)
    with pytest.raises(OSError):  # no longer listening
        socket.create_connection((host, port), timeout=2).recv(1)
    srv.close()
