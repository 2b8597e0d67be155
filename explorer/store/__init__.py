"""The stored files and the models a server holds: NumPy and safetensors, never a pickle.

- ``checkpoint.py`` — a checkpoint: safetensors weights, the config and the training record as JSON;
  ``read_checkpoint_arrays`` (NumPy, no torch), ``load_checkpoint`` (the torch model).
- ``registry.py`` — ``ServedModel`` (a checkpoint's arrays and its atlas; the torch model built on first use)
  and ``ModelRegistry``, the models one server holds.
- ``atlas.py`` — a checkpoint's atlas: the test digits' guide means, the map, its triangulation; ``read_npz``.
- ``atlas_build.py`` — building an atlas (UMAP), the only place that imports umap.
- ``snapshots.py`` — moments of training (``train --snapshots N``).
- ``timeline.py`` — a checkpoint's timeline file, as the app reads it.
- ``timeline_build.py`` — building the timeline from the snapshots (AlignedUMAP for more than two dimensions).
"""
