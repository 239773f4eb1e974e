"""Refuse network connections that leave this machine (the course runs offline).

Installed in every notebook kernel that the tests start (through `sitecustomize.py` beside this file,
which `conftest.py` puts on the kernels' PYTHONPATH) and in the pytest process itself. Loopback and
Unix sockets stay allowed: Jupyter's own kernel channels use them. A blocked call raises
`NetworkAccessError` before any packet is sent.
"""
from __future__ import annotations

import ipaddress
import socket

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "", None}


class NetworkAccessError(ConnectionRefusedError):
    pass


def _is_local_host(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if host in _LOCAL_NAMES or host == socket.gethostname():
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _check(sock: socket.socket, address: object) -> None:
    if getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX:
        return
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local_host(host):
        raise NetworkAccessError(f"cvcourse runs offline: a connection to {address!r} was blocked "
                                 "(the tests forbid network access outside this machine)")


# The real functions, looked up at call time (tests replace them with recorders).
_ORIGINALS: dict = {}


def install() -> None:
    """Patch socket.socket.connect/connect_ex/sendto and socket.getaddrinfo (idempotent)."""
    if _ORIGINALS:
        return
    _ORIGINALS.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex,
                      sendto=socket.socket.sendto, getaddrinfo=socket.getaddrinfo)

    def connect(self, address):
        _check(self, address)
        return _ORIGINALS["connect"](self, address)

    def connect_ex(self, address):
        _check(self, address)
        return _ORIGINALS["connect_ex"](self, address)

    def sendto(self, data, *args):
        _check(self, args[-1])
        return _ORIGINALS["sendto"](self, data, *args)

    def getaddrinfo(host, *args, **kwargs):
        if not _is_local_host(host):
            try:
                ipaddress.ip_address(str(host))  # a numeric address needs no lookup; connect() decides
            except ValueError:
                raise NetworkAccessError(f"cvcourse runs offline: looking up {host!r} was blocked") from None
        return _ORIGINALS["getaddrinfo"](host, *args, **kwargs)

    connect._cvcourse_guard = True
    socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
    socket.getaddrinfo = getaddrinfo
