"""Command line: ``python -m explorer [serve|train|evaluate|atlas|import|export] ...``: the commands
(their flags are :mod:`explorer.cli_flags`)."""

from __future__ import annotations

import argparse
import logging
import sys

from explorer.cli_flags import build_parser

__all__ = ["build_parser", "main"]


def _train_configs(args: argparse.Namespace):
    import dataclasses

    from explorer.vae.config import PRESETS, ModelConfig, TrainConfig

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

    from explorer.vae.data import load_mnist
    from explorer.vae.runtime import pick_device
    from explorer.vae.train import train

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
    from explorer.store.checkpoint import load_checkpoint
    from explorer.vae.data import load_mnist
    from explorer.vae.evaluate import evaluate
    from explorer.vae.runtime import pick_device

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
    from explorer.vae.evaluate import elbo_over_seeds

    mean, se, values = elbo_over_seeds(ckpt.vae, test.images, test.labels, max(1, args.seeds))
    print(f"test ELBO over {len(values)} seeds (Pyro's protocol): {mean:.3f} ± {se:.3f} nats/image "
          f"(values {', '.join(f'{v:.2f}' for v in values)})")
    if args.write:
        from dataclasses import asdict

        from explorer.store.checkpoint import save_checkpoint

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
    from explorer.store.atlas_build import build_atlas
    from explorer.store.timeline_build import build_timeline

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
    from explorer.vae.importer import import_file

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
    from explorer.store.atlas import AtlasError
    from explorer.store.checkpoint import CheckpointError
    from explorer.vae.data import DataMissingError

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
