"""Governance tests: keys, roles, model access, quotas, the ledger, usage."""
