"""A store served over HTTP by the one process that owns it (`server.py`),
and the `Store` that talks to it (`client.py`); the wire format is `protocol.py`.
"""
