"""Typed keys for what the application object carries."""

from __future__ import annotations

from aiohttp import web

from protocol.keyring import Keyring
from protocol.settings import Settings
from web_node.write.storage import Storage

settings_key = web.AppKey("settings", Settings)
keyring_key = web.AppKey("keyring", Keyring)
storage_key = web.AppKey("storage", Storage)
