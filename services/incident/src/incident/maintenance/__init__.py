"""Maintenance windows: scheduled with the notice users are owed (72 h by default, unless an
emergency with its reason), rescheduled and cancelled with a new notice each, a reminder before
start, started and completed by the clock, and the regulator told of those longer than 24 h."""
