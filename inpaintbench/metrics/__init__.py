"""Per-image metric functions, streaming metric classes, binned routing and the metric runner."""
