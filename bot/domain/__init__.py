"""Pure rules and the shared vocabulary: no database, no web, no provider."""
