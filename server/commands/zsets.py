"""zsets commands."""

from __future__ import annotations
