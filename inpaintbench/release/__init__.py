"""Official release files, read as downloaded: no manual step, no code run while reading.

- `read_release(path) -> ReleaseContent(state_dict, layout, source_sha256, info)`: the flat
  official-layout state dict that a model's `checkpoint_filter_fn` converts (reader.py);
- `safe_pickle`: torch zip / legacy pickles with foreign objects, restricted unpickler;
- `tensorbundle`: TensorFlow checkpoints without TensorFlow;
- `layout`: release layouts, detected from content (each family's own layouts are in archs/<family>.py);
- `pretrained`, `fetch`, `convert`: the release record (each family's table is in its arch file),
  downloading, and conversion to `.safetensors` plus a card.
"""

from __future__ import annotations

from inpaintbench.release.layout import LAYOUTS, ReleaseLayout, detect_layout
from inpaintbench.release.reader import ReleaseContent, check_release_fits, read_raw, read_release
from inpaintbench.release.safe_pickle import UnsafePickleError

__all__ = [
    "LAYOUTS",
    "ReleaseContent",
    "ReleaseLayout",
    "UnsafePickleError",
    "check_release_fits",
    "detect_layout",
    "read_raw",
    "read_release",
]
