"""The kubelet: registers its Node, keeps its Lease, and runs the pods bound to it."""
