"""Running models over data: `loading` (build an inpainter once), `runner` (the shard loop),
`distributed` (ranks over processes, GPUs and machines), `evaluate` (one evaluation from a config),
`bench` (the bench plan), `regression` (the golden-file gate), `inpaint` (one image), `efficiency`."""
