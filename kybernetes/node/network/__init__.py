"""The pod network of one node: a bridge, a veth and an IP per pod (host-gw between nodes)."""
