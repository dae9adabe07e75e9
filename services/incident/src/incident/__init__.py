"""incident service: Incidents, maintenance windows, regulator reports, availability and the quality report."""
