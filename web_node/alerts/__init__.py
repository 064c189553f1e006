"""Alerting: rules judged on every stored reading in the store transaction (docs/alerts-design.md)."""
