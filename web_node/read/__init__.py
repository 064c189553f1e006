"""The read path: history, stats, CSV export and the live push of stored readings."""
