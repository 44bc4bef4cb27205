"""The Kubernetes API server: HTTPS, authentication, the REST API over the store."""
