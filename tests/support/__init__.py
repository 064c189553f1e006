"""Shared test helpers and fixture plugins, registered through ``pytest_plugins`` in conftest."""
