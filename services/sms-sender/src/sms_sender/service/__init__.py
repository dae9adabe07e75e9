"""Use cases of the sms-sender, one module per use case. Each owns its transactions, takes and
returns domain values (never HTTP shapes or driver records) and raises declared errors."""
