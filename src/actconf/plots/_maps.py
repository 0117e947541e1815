"""Topographic activation map figures (filled in by the rendering work)."""

__all__: list[str] = []
