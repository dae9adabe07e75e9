"""complaints service: Complaint intake and SLA clocks on the Chinese working-day calendar."""
