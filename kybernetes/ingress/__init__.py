"""The ingress controller for the IngressClass `kybernetes`: a reverse proxy on the node.

`routes` decides (pure), `classes` says which Ingresses are ours and what
their status is, `certificates` serves TLS by SNI, `proxy` moves the bytes,
and `controller` keeps the proxy's table current from informers.
"""
