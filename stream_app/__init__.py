"""The Faust stream app: receivers take turns through a signed, circulating token."""
