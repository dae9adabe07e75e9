"""SQL of the subscription service, one module per aggregate. Functions take a connection; services own transactions."""
