"""Rules without I/O.

The model catalog and its prices, exact money, quota periods,
request accounting and API-key hashing. Everything else in the server may import it;
it imports nothing of theirs.
"""
