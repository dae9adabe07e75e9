"""The public status page: commitments, services on sale with their tariffs and scope (from the catalogue), and its Atom feed."""
