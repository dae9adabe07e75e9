"""Shared plumbing and contracts for the VAS suite. Holds no business rules and never runs on its own."""
