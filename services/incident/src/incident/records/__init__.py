"""The incident service's records: legal holds, the retention run that never deletes a held or
young record, and the JSON export of a period's records."""
