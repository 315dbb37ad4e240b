"""Colours and CSS shared by every page (no fonts or assets from external hosts)."""

ACCENT = "#2f4b7c"

# Health colours (good / warning / bad) used by several explorers
GOOD, WARN, BAD = "#2a9d8f", "#e9c46a", "#e76f51"

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.wb-header-links a { color: white; font-size: 0.9em; margin-left: 0.4em; }
.wb-status pre { margin: 0; white-space: pre-wrap; }
"""
