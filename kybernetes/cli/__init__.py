"""The `kyb` command line: lifecycle commands and the server composition root."""
