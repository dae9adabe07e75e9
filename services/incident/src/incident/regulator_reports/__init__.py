"""Regulator reports of major outages: one per incident that gains the regulator duty, with the
first and final reports' deadlines by a rule (data), their states, warnings and overdue alerts,
and the document a person sends (JSON, HTML print view, PDF, in Chinese)."""
