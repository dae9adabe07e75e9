"""Disputes: the hold an open billing or subscription complaint keeps on the user's records in
the other services, and the refund staff ask for when they resolve a billing complaint."""
