"""Loaded by Python at start-up when this folder is on PYTHONPATH (the interop
test puts it there) so that NAME.localhost resolves to the loopback address,
as RFC 6761 says and as systemd-resolved, curl and browsers do, but glibc
without systemd does not. It stands in for a line "127.0.0.1 NAME.localhost"
in /etc/hosts; the Microsoft clients themselves are not touched."""
import socket

_getaddrinfo = socket.getaddrinfo


def _localhost_getaddrinfo(host, *args, **kwargs):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if isinstance(host, str) and host.lower().endswith(".localhost"):
        host = "127.0.0.1"
    return _getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _localhost_getaddrinfo
