"""Container runtimes: runc (real OCI containers), and later process and simulated."""
