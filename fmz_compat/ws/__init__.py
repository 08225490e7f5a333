"""Websocket order books for live venues: per-venue parsers (venues.py) and the transport (feed.py)."""
