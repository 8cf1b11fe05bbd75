"""One servicer per proto service.

Each translates its messages and calls governance, the providers and the store; none holds
a rule of its own that another service repeats.
"""
