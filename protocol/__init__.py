"""What crosses a process boundary in telering: readings, topics, grants, settings.

Imports nothing heavy (no Faust, aiohttp or Qt) and does no work at import time.
"""
