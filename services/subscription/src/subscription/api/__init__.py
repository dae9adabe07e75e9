"""HTTP endpoints of the subscription service, one module per area. Thin: parse, call a use case, shape the answer."""
