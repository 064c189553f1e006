"""The write path: a batch under a grant, fenced, stored once with its rollups; retention."""
