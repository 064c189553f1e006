"""The web node: verifies grants, stores readings, serves the read API and live push."""
