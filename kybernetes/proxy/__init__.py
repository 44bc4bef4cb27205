"""The service proxy: Services become virtual IPs in the node\x27s kernel (issue 6)."""
