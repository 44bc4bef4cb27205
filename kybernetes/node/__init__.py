"""The node agent's parts: images now; the kubelet, runtimes and pod network later."""
