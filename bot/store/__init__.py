"""The store: tables, the database handle, migrations and the queries on them."""
