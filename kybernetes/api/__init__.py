"""The Kubernetes API model: pure helpers shared by the API server and its clients."""
