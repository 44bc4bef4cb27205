"""Simulated nodes: Nodes and pods that exist only in the API (like KWOK)."""
