"""The rules of the wire that the server, the bridge and the TUI share, each in one place.

The error domain, reading status details, request ids and USD amounts.
"""
