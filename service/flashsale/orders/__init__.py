"""Orders leave Redis: the exporter that copies every ledger entry into PostgreSQL exactly once, the schema and
its migrations, and the reconciliation that compares (and repairs) both sides after a failover.

Nothing here runs on the purchase path: the API only reads the export group's lag (sale deletion) and, for the
reconcile routes, PostgreSQL.
"""
