"""The catalog database through SQLAlchemy Core: SQLite locally, Aurora MySQL in the cloud, the same SQL."""
