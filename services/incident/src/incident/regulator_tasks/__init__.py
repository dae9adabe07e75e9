"""What the provider must tell the regulator, each with a due time: a task per duty (maintenance
longer than 24 h so far), listed for staff, marked done when sent."""
