"""Small helpers with no knowledge of any component."""
