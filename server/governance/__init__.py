"""Who may do what.

The caller's identity (API keys and OIDC tokens), the admin role and the
target user of a governance call, model-access policies, and the admission of a request
against its quota and rate limit.
"""
