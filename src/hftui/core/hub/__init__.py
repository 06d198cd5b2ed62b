"""Talking to the Hub as a client: repo references, remote listings, include/exclude patterns,
local marks for a listing, and the equivalent `hf download` command line.

UI-free. Not to be confused with `hftui.hub`, the project's local Hub *server*.
"""
