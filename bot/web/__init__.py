"""HTTP edges: thin blueprints that turn requests into values and results into responses."""
