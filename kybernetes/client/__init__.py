"""The client machinery every component uses: a REST client, informers, the work queue."""
