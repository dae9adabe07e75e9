"""Use cases of the subscription service, one module per area. Each use case owns its transaction."""
