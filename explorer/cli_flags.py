"""The command line's flags: ``python -m explorer COMMAND --help`` prints what each one does.
:mod:`explorer.cli` runs the commands."""

from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Interactive explorer of a Pyro VAE's latent space on MNIST.

With no command, starts the app (same as `python -m explorer serve`); the app's flags may be given
directly, e.g. `python -m explorer --port 8000 --no-browser` (see `python -m explorer serve --help`).

Typical use:
  python -m explorer                                   open the app on http://127.0.0.1:7860
  python -m explorer train --preset mnist-z16 --out checkpoints/mnist-z16.safetensors
  python -m explorer evaluate mnist-z16 --k 200        test ELBO and log p(x) of a checkpoint
  python -m explorer atlas mnist-z16                   rebuild the map the app loads
  python -m explorer import vae.pt --name my-vae       import your own Pyro tutorial VAE (state_dict
                                                       or pyro.get_param_store().save file)
  python -m explorer export site/                      the page and its models as a static site"""


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each flag's default, except where it is None or False (the help text then says it)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


def _add_train(sub: argparse._SubParsersAction) -> None:
    from explorer.vae.config import PRESETS

    p = sub.add_parser(
        "train",
        help="train a VAE with Pyro SVI and write a checkpoint",
        description="Train a VAE on MNIST with Pyro's SVI (Trace_ELBO, JIT-compiled by default; Adam) and write a "
        "safetensors checkpoint that records its config, test ELBO, data checksum and versions. "
        "Ctrl-C writes <out>.resume.pt; --resume continues from it.",
        formatter_class=_Help,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="recipe of a shipped checkpoint; explicit flags below override it")
    p.add_argument("--model", choices=["vae", "cvae"], default=None,
                   help="vae: the plain VAE; cvae: also observes the one-hot digit label (a Categorical site "
                   "'label'), with the label fed to encoder and decoder (default vae)")
    p.add_argument("--z-dim", type=int, default=None, help="latent dimensions (default 16)")
    p.add_argument("--hidden", type=str, default=None,
                   help="comma-separated hidden widths of the encoder, mirrored by the decoder "
                   "(default 512,256)")
    p.add_argument("--activation", choices=["softplus", "relu"], default=None,
                   help="hidden activation (default softplus)")
    p.add_argument("--epochs", type=int, default=None, help="passes over the training set (default 100)")
    p.add_argument("--batch-size", type=int, default=None, help="minibatch size (default 256)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 1e-3)")
    p.add_argument("--lr-final", type=float, default=None,
                   help="decay the learning rate exponentially to this by the last epoch (default: none)")
    p.add_argument("--elbo", choices=["trace", "meanfield"], default=None,
                   help="trace: Trace_ELBO (Monte Carlo KL); meanfield: TraceMeanField_ELBO (analytic KL)")
    p.add_argument("--jit", action=argparse.BooleanOptionalAction, default=None,
                   help="Pyro's JIT-compiled ELBO (the same maths): on by default for Trace_ELBO (~10%% faster "
                   "per step, README), off for TraceMeanField_ELBO (slower compiled)")
    p.add_argument("--validate", action="store_true",
                   help="keep Pyro's distribution-argument checks on while training (same maths, slower)")
    p.add_argument("--seed", type=int, default=0, help="one seed for torch, numpy and Pyro")
    p.add_argument("--test-every", type=int, default=None, help="test ELBO every N epochs (default 5)")
    p.add_argument("--train-subset", type=int, default=None,
                   help="train on only the first N digits (for quick checks)")
    p.add_argument("--snapshots", type=int, default=None,
                   help="record N moments of training, from step 0 to the last, about log-spaced (the timeline: "
                   "then `python -m explorer atlas NAME --timeline`); written as <out>.snapshots.npz")
    p.add_argument("--kl-weight", type=float, default=None,
                   help="the KL term's weight (poutine.scale on the latent site; 0: an autoencoder, via "
                   "poutine.mask; default 1, the VAE)")
    p.add_argument("--data-dir", default=None,
                   help="folder that contains MNIST/ (default: $EXPLORER_DATA_DIR, else ./data); "
                   "torchvision downloads there when online")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--out", type=Path, required=True, help="checkpoint file to write (.safetensors)")
    p.add_argument("--resume", type=Path, default=None, help="continue from a <out>.resume.pt file")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test ELBO and importance-weighted log p(x) of a checkpoint",
        description="Evaluate a checkpoint on the 10,000 MNIST test digits: the test ELBO with "
        "Pyro's example protocol (sum of -svi.evaluate_loss / 10,000), the same with more particles, "
        "and an importance-weighted estimate of log p(x) (k samples) so the ELBO's gap is visible.",
        formatter_class=_Help,
    )
    p.add_argument("checkpoint", help="shipped name (e.g. mnist-z16) or path to a .safetensors file")
    p.add_argument("--particles", type=int, default=10, help="particles for the tighter ELBO estimate")
    p.add_argument("--k", type=int, default=100, help="importance samples for log p(x); 0 skips it")
    p.add_argument("--subset", type=int, default=None, help="estimate log p(x) on the first N images only")
    p.add_argument("--seed", type=int, default=0, help="seed for the Monte Carlo estimates")
    p.add_argument("--seeds", type=int, default=5,
                   help="the test ELBO (Pyro's protocol) is averaged over this many seeds, with its s.e.")
    p.add_argument("--data-dir", default=None, help="folder that contains MNIST/ (see train --help)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--write", action="store_true",
                   help="store the figures in the checkpoint's record (the weights and so the atlas stay as they are)")


def _add_atlas(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "atlas",
        help="build the map file the app loads for a checkpoint",
        description="Encode the MNIST test digits with the checkpoint's guide, project the means to "
        "2-D with a seeded UMAP (a 2-D latent is its own map), triangulate the map, and write "
        "<checkpoint>.atlas.npz (no pickle) next to the checkpoint. Needs MNIST; the app does not.",
        formatter_class=_Help,
    )
    p.add_argument("checkpoint", nargs="+", help="shipped name(s) (e.g. mnist-z16) or .safetensors path(s)")
    p.add_argument("--seed", type=int, default=0, help="UMAP's random_state")
    p.add_argument("--holdout", type=int, default=1000,
                   help="training digits used to check the fast mapping against UMAP's transform")
    p.add_argument("--data-dir", default=None, help="folder that contains MNIST/ (see train --help)")
    p.add_argument("--timeline", action="store_true",
                   help="also build <checkpoint>.timeline.npz from its snapshots (train --snapshots N): the "
                   "moments' maps aligned (AlignedUMAP; a 2-D latent is its own map) and the atlas's map is "
                   "the last moment's")


def _add_import(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "import",
        help="import your own VAE (Pyro's tutorial, saved as a state_dict or a param store)",
        description="Read the VAE of Pyro's tutorial (examples/vae/vae.py) as you saved it: "
        "torch.save(vae.state_dict(), FILE) or pyro.get_param_store().save(FILE) (any hidden size and z "
        "dimension), or a checkpoint of this project. Writes OUT/NAME.safetensors with the config inferred "
        "from the shapes; where MNIST is found, records the test ELBO (Pyro's protocol, mean over seeds) and "
        "builds OUT/NAME.atlas.npz. Then: python -m explorer --checkpoint OUT/NAME.safetensors. Files are "
        "opened with torch.load(weights_only=True): a pickle holding code is refused, never run.",
        formatter_class=_Help,
    )
    p.add_argument("file", type=Path, help="the saved model: a .pt/.pth/.save file, or a .safetensors checkpoint")
    p.add_argument("--name", default=None, help="name of the imported model (default: the file's name)")
    p.add_argument("--out", type=Path, default=Path("checkpoints"), help="folder to write the checkpoint and atlas to")
    p.add_argument("--seeds", type=int, default=5, help="seeds the test ELBO is averaged over")
    p.add_argument("--data-dir", default=None, help="folder that contains MNIST/ (see train --help)")


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="start the app in the browser (the default command)",
        description="Start the explorer: the map of the guide means, a drawing pad, and a ring to drag "
        "across latent space. Everything it needs ships in checkpoints/ (no MNIST download).",
        formatter_class=_Help,
    )
    p.add_argument("--checkpoint", default="mnist-z16",
                   help="model shown first: a shipped name or a .safetensors path with its .atlas.npz beside it")
    p.add_argument("--device", default="auto", help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 serves a room (use --auth then)")
    p.add_argument("--port", type=int, default=7860, help="port to listen on")
    p.add_argument("--auth", default=None, metavar="USER:PASSWORD", help="require this login")
    p.add_argument("--lecturer", default=None, metavar="USER:PASSWORD",
                   help="the login that may start and stop a live training run (without --auth a browser on "
                   "this machine may too; students only watch)")
    p.add_argument("--share", action="store_true",
                   help="also open a public Gradio share link (needs internet; off by default)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per request")
    p.add_argument("--workers", type=int, default=1,
                   help="server processes on the port, run by uvicorn's own supervisor (a logout holds in all)")


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="write the page and its models as a static site (any static host, a CDN, python -m http.server)",
        description="Write DIR/index.html, the page's modules and the models' files (named by their content), a "
        "service worker and an app manifest: the explorer as a static site. Every drawing's forward pass runs in "
        "the page; what needs Pyro on a server (step 6's SVI step, 'check with Pyro', log p(x) with 5,000 "
        "samples) is shown as unavailable. Serve DIR with any static host, e.g. `python -m http.server -d DIR`.",
        formatter_class=_Help,
    )
    p.add_argument("dir", type=Path, help="the folder to write (it must be empty or new, unless --force)")
    p.add_argument("--checkpoint", action="append", default=None, metavar="NAME",
                   help="a model to include (shipped name or .safetensors path with its atlas); repeat for more "
                   "(default: every model in the checkpoint folder; the first is the one the page opens)")
    p.add_argument("--force", action="store_true", help="write into a folder that is not empty")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_evaluate(sub)
    _add_atlas(sub)
    _add_import(sub)
    _add_serve(sub)
    _add_export(sub)
    return parser
