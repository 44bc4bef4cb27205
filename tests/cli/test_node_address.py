"""The node's address: the interface holding the default route, as k3s picks it."""

from __future__ import annotations

from kybernetes.cli.server import default_route_address

ROUTES = """Iface	Destination	Gateway 	Flags	RefCnt	Use	Metric	Mask		MTU	Window	IRTT
kyb0	0000F40A	00000000	0001	0	0	0	00FFFFFF	0	0	0
eth0	00000000	010200C0	0003	0	0	0	00000000	0	0	0
eth0	000200C0	00000000	0001	0	0	0	00FFFFFF	0	0	0
"""


def test_the_default_route_interface_gives_the_address() -> None:
    addresses = {"lo": "127.0.0.1", "eth0": "192.0.2.2", "kyb0": "10.244.0.1"}
    assert default_route_address(ROUTES, addresses) == "192.0.2.2"
    assert default_route_address(ROUTES.splitlines()[0] + "\n", addresses) is None
