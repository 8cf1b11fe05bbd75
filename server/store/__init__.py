"""Persistence.

Peewee models on SQLite or PostgreSQL, migrations, one repository per
resource, the quota ledger, rate windows and the group-commit writer that batches them.
"""
