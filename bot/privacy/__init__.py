"""A person's data in bulk: import with consent, export, access and erasure."""
