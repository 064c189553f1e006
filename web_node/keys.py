"""Typed keys for what the application object carries."""

from __future__ import annotations

from aiohttp import web

from protocol.grants import GrantCodec
from protocol.settings import Settings
from web_node.storage import Storage

settings_key = web.AppKey("settings", Settings)
codec_key = web.AppKey("codec", GrantCodec)
storage_key = web.AppKey("storage", Storage)
