"""Agora Cloud Recording REST API: the client and the one table of its answers."""
