"""telering desktop client: a live PyQt5 + pyqtgraph dashboard over the web node's API."""
