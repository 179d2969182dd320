"""Sweep room: select due items, run bots over them concurrently, record every result."""
