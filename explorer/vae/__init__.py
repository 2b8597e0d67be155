"""The VAE as in Pyro's example (``examples/vae/vae.py``): the reference for every number anyone sees.

- ``model.py`` — ``Encoder``, ``Decoder``, ``VAE.model`` / ``VAE.guide`` with the sites "latent", "obs" (and "label").
- ``config.py`` — the frozen configs, with a comment on each default, and the presets of the shipped models.
- ``elbo.py`` — the ELBO by hand (−BCE + KL, Pyro's clamp), the IWAE log p(x), the ELBO per label.
- ``svi.py`` — SVI as training and evaluation run it: the estimator, the batches, Pyro's lock.
- ``optim.py`` — one torch Adam over all of SVI's parameters.
- ``train.py`` — the one training path (``python -m explorer train``), behind every shipped model.
- ``evaluate.py`` — the test-set ELBO, a many-particle ELBO and the IWAE log p(x).
- ``data.py`` — MNIST through torchvision, as in-memory tensors.
- ``importer.py`` — a learner's own VAE, as Pyro's tutorial saves it.
- ``rng.py`` — the one seeded generator of ε and uniforms (its twin is the page's ``rng.js``).
- ``runtime.py`` — seeding every generator from one integer; choosing the device.
"""
