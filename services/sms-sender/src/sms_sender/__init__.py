"""sms-sender: CP send API, content review, dispatch to the SMSC, DLR and MO intake."""
