"""The node: what runs pods on a machine (images, runtime, pod network, kubelet)."""
