"""The quality report: SLA attainment per clock, the complaint rate per product, SLA gauges."""
