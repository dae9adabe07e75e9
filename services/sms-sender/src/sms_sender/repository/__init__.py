"""SQL of the sms-sender, one module per use case. Functions take a connection; the service owns
transactions; what they return are dataclasses, never driver records."""
