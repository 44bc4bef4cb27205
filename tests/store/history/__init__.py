"""Recorded histories of store traffic and a checker for them (etcd robustness style).

`recorder` drives Kubernetes-shaped traffic against any `Store` and writes
down every operation and every watch event; `checker` decides, from that
record alone, whether the store kept its promises (see checker.py).
"""
