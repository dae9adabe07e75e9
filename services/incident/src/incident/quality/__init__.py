"""Service quality: the promises measured from the event stream, and the report."""
