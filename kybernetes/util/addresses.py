"""HOST:PORT arguments, parsed the same way by every command that takes one."""

from __future__ import annotations

__all__ = ["split_host_port"]


def split_host_port(text: str, *, default_host: str = "") -> tuple[str, int]:
    """'127.0.0.1:6443' -> ('127.0.0.1', 6443); '[::1]:80' -> ('::1', 80).

    An empty host takes `default_host`; without one it is an error, as is a
    port that is not a number in 0..65535 (0: any free port).
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") or default_host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{text!r} must be HOST:PORT, for example 127.0.0.1:6443")
    return host, int(port)
