"""What the page shows, computed in Python: the reference every computation of the page is held to, and
what the server's routes answer for what needs Pyro. No web framework here.

- ``inference.py`` — a drawing's forward pass, steps 1–5 of the lens (``encode_drawing``), and log p(x).
- ``preprocess.py`` — a drawing → MNIST's 28×28 input.
- ``decoding.py`` — prior samples, the image at a map position, the test digits' reconstructions.
- ``estimates.py`` — a mean with its standard error; the norm of a mean gradient.
- ``backprop.py`` — step 6: Pyro's real SVI step on the learner's drawing.
- ``pyro_check.py`` — "check with Pyro": Pyro's ELBO at the very z the page drew.
- ``tools.py`` — interpolation, traversals, the map as CSV.
- ``snippets.py`` — the code lines shown beside each step of the lens.
- ``live.py`` — the lecturer's live training run, watched by everyone.
- ``reproduce.py`` — ``explorer.reproduce``: a drawing the page saved, computed again.
- ``wire.py`` — how answers carry images and numbers.
"""
