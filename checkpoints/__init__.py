"""The shipped models. Installed from a wheel, this folder is the package ``explorer.checkpoints``,
so ``explorer.store.checkpoint.checkpoint_dir()`` finds the models wherever the app is installed."""
