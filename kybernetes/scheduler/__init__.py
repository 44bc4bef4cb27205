"""The scheduler: binds Pending pods to nodes (kube-scheduler's framework, in Python)."""
