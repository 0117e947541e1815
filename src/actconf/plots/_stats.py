"""Statistics figures: correlations, strength/distinctness, confidence, calibration."""

__all__: list[str] = []
