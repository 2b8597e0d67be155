"""Command line: ``python -m explorer [serve|train|evaluate|atlas] ...``."""

from __future__ import annotations

import argparse
import logging
import sys
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
    from explorer.config import PRESETS

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


def _train_configs(args: argparse.Namespace):
    import dataclasses

    from explorer.config import PRESETS, ModelConfig, TrainConfig

    preset = PRESETS[args.preset] if args.preset else None
    m = preset.model if preset else ModelConfig()
    t = preset.train if preset else TrainConfig()
    m_over = {}
    if args.z_dim is not None:
        m_over["z_dim"] = args.z_dim
    if args.hidden is not None:
        m_over["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h.strip())
    if args.activation is not None:
        m_over["activation"] = args.activation
    if args.model is not None:
        m_over["labels"] = 10 if args.model == "cvae" else 0
    if args.kl_weight is not None:
        m_over["kl_weight"] = args.kl_weight
    t_over = {k: v for k, v in {
        "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "lr_final": args.lr_final,
        "elbo": args.elbo, "test_every": args.test_every, "train_subset": args.train_subset,
        "snapshots": args.snapshots,
    }.items() if v is not None}
    t_over["seed"] = args.seed
    if args.jit is not None:
        t_over["jit"] = args.jit
    if args.validate:
        t_over["validate"] = True
    return dataclasses.replace(m, **m_over), dataclasses.replace(t, **t_over)


def command_line() -> str:
    """This process's command, as a user would type it again (for the records)."""
    import shlex

    return "python -m explorer " + shlex.join(sys.argv[1:])


def cmd_train(args: argparse.Namespace) -> int:
    import torch

    from explorer.data import load_mnist
    from explorer.train import train
    from explorer.utils import pick_device

    if args.threads:
        torch.set_num_threads(args.threads)
    model_cfg, train_cfg = _train_configs(args)
    device = pick_device(args.device)
    train_set = load_mnist(True, args.data_dir)
    test_set = load_mnist(False, args.data_dir)
    logging.getLogger(__name__).info("training %s with %s on %s", model_cfg, train_cfg, device)
    try:
        record = train(model_cfg, train_cfg, train_set, test_set, args.out, device, resume=args.resume,
                       command=command_line())
    except KeyboardInterrupt:
        return 130
    print(f"wrote {args.out}  test ELBO {record['test_elbo']:.3f} nats/image after {record['epochs']} epochs")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from explorer.checkpoint import load_checkpoint
    from explorer.data import load_mnist
    from explorer.evaluate import evaluate
    from explorer.utils import pick_device

    ckpt = load_checkpoint(args.checkpoint, pick_device(args.device))
    test = load_mnist(False, args.data_dir)
    if ckpt.record.get("data_sha256", {}).get("test") not in (None, test.sha256):
        print("warning: the test data's checksum differs from the one recorded at training time",
              file=sys.stderr)
    result = evaluate(ckpt.vae, test.images, test.labels, particles=args.particles, k=args.k,
                      subset=args.subset, seed=args.seed)
    print(f"{ckpt.path}  z={ckpt.config.z_dim} hidden={list(ckpt.config.hidden)} "
          f"epochs={ckpt.record.get('epochs')}  recorded test ELBO {ckpt.record.get('test_elbo')}")
    for line in result.lines():
        print(line)
    from explorer.evaluate import elbo_over_seeds

    mean, se, values = elbo_over_seeds(ckpt.vae, test.images, test.labels, max(1, args.seeds))
    print(f"test ELBO over {len(values)} seeds (Pyro's protocol): {mean:.3f} ± {se:.3f} nats/image "
          f"(values {', '.join(f'{v:.2f}' for v in values)})")
    if args.write:
        from dataclasses import asdict

        from explorer.checkpoint import save_checkpoint

        kept = {} if args.k == 0 else {"evaluation": asdict(result)}  # --k 0: the recorded log p(x) figures stay
        record = {**ckpt.record, **kept, "test_elbo": mean, "test_elbo_se": se, "evaluate_command": command_line(),
                  "test_elbo_seeds": len(values), "test_elbo_single_seed": ckpt.record.get("test_elbo_single_seed",
                                                                                           ckpt.record.get("test_elbo"))}
        if result.log_px is not None:
            record["test_log_px"] = result.log_px
        if result.accuracy is not None:
            record["test_accuracy"] = result.accuracy
        save_checkpoint(ckpt.path, ckpt.vae.cpu(), record)
        print(f"recorded in {ckpt.path} (the weights are unchanged, so its atlas stays valid)")
    return 0


def cmd_atlas(args: argparse.Namespace) -> int:
    from explorer.atlas_build import build_atlas
    from explorer.timeline_build import build_timeline

    for name in args.checkpoint:
        if args.timeline:
            path, meta = build_timeline(name, args.data_dir, seed=args.seed)
            print(f"wrote {path} and the atlas beside it (map: {meta['map']}, {meta['build_seconds']} s)")
            continue
        path, meta = build_atlas(name, args.data_dir, seed=args.seed, holdout=args.holdout)
        agree = meta.get("forward_vs_umap_transform")
        extra = (f"; fast mapping vs UMAP transform: median {agree['median']:.2%}, p90 {agree['p90']:.2%} "
                 "of the map's extent") if agree else ""
        print(f"wrote {path} (map: {meta['map']}, {meta['build_seconds']} s){extra}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from explorer.importer import import_file

    res = import_file(args.file, args.name, args.out, args.data_dir, seeds=max(1, args.seeds))
    cfg, rec = res["config"], res["record"]
    elbo = "no test ELBO (MNIST not found)"
    if rec.get("test_elbo") is not None:
        elbo = (f"test ELBO {rec['test_elbo']:.2f} ± {rec['test_elbo_se']:.2f} nats/image "
                f"(mean of {rec['test_elbo_seeds']} seeds)")
    print(f"wrote {res['checkpoint']}: z = {cfg.z_dim}, hidden {list(cfg.hidden)}, {elbo}")
    if res["atlas"] is None:
        print("no atlas: it needs MNIST's test digits; run again with --data-dir DIR (the folder that holds MNIST/)")
        return 1
    print(f"wrote {res['atlas']}\nexplore it: python -m explorer --checkpoint {res['checkpoint']}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from explorer.app.export import export_site

    written = export_site(args.dir, args.checkpoint, force=args.force)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {len(written)} files ({size / 1e6:.1f} MB) to {args.dir}\n"
          f"serve it with any static host, e.g.: python -m http.server -d {args.dir} 8000")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from explorer.app.startup import serve

    serve(args.checkpoint, args.device, args.host, args.port, args.auth, args.share, not args.no_browser,
          args.threads, announce=lambda line: print(line, flush=True), workers=max(1, min(args.workers, 64)),
          lecturer=args.lecturer)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train", "evaluate", "atlas", "import", "serve", "export"}
    if not argv or (argv[0] not in commands and argv[0] not in ("-h", "--help", "-v", "--verbose")):
        argv.insert(0, "serve")  # `python -m explorer` (with or without serve flags) starts the app
    elif argv[0] in ("-v", "--verbose") and (len(argv) == 1 or argv[1] not in commands | {"-h", "--help"}):
        argv.insert(1, "serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from explorer.app.export import ExportError
    from explorer.app.startup import ServeError
    from explorer.atlas import AtlasError
    from explorer.checkpoint import CheckpointError
    from explorer.data import DataMissingError

    handlers = {"train": cmd_train, "evaluate": cmd_evaluate, "atlas": cmd_atlas, "import": cmd_import,
                "serve": cmd_serve, "export": cmd_export}
    command = args.command
    try:
        return handlers[command](args)
    except (CheckpointError, AtlasError, DataMissingError, ServeError, ExportError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
