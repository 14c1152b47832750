"""nn.Module architectures, one family per file (pconv, deepfill_v1, rfr, lama)."""
