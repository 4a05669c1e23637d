"""Fault-injection suite: worker kills, server restarts, outside systems down, duplicates and races."""
