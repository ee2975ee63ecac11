"""``vitrine``: the command line. A subcommand appears when its job works, never before."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vitrine.catalog.domain import ImageStatus
from vitrine.errors import ConfigError, VitrineError


def _services():
    """The local services, after building any tiny model the profile needs (offline, milliseconds)."""
    from vitrine.config import settings
    from vitrine.wiring import services
    from vitrine_dev.modelkit.tiny import ensure_tiny

    ensure_tiny(settings())
    return services()


def cmd_serve(args: argparse.Namespace) -> int:
    from vitrine.config import settings
    from vitrine_dev.server import serve

    app = _services()
    _say_models(app)
    app.warm()
    serve(app, args.host, args.port or settings().port)
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from vitrine.api.routes.operations import ingest_report

    app = _services()
    if args.path:
        from tqdm import tqdm

        from vitrine_dev.ingest import count_dispatchable, ingest_folder

        with tqdm(total=count_dispatchable(args.path), unit="file", desc="ingest", disable=args.quiet) as bar:
            summary = ingest_folder(args.path, app.store, bar.update)
        print(
            f"{summary.uploaded} uploaded, {summary.unchanged} unchanged, {summary.dispatched} events dispatched, "
            f"{len(summary.failed_messages)} to retry, {len(summary.no_handler)} files outside any ingested prefix"
        )
        for key in summary.failed_messages[:20]:
            print(f"  retry later: {key}")
    if args.report or not args.path:
        report = ingest_report(app, args.status, args.limit)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print("counts: " + ", ".join(f"{k}={v}" for k, v in sorted(report["counts"].items())))
            for item in report["items"]:
                if item["status"] != "indexed" or args.status == "indexed":
                    print(f"  {item['status']:<9} {item['key']}: {item['reason']}")
    return 1 if args.path and summary.failed_messages else 0


def _prepare_hotels(app, folder: Path, hotels: int) -> None:
    """Generate and ingest the demo hotels (classified, covers scored) unless the home has hotels already."""
    if hotels <= 0 or app.hotels().count_hotels() > 0:
        return
    from tqdm import tqdm

    from vitrine_dev.demo_hotels import generate as generate_hotels
    from vitrine_dev.ingest import count_dispatchable, ingest_folder

    if not (folder / "hotels").is_dir():
        summary = generate_hotels(folder, hotels=hotels)
        print(f"Generated synthetic hotels: {summary.line()}")
    with tqdm(total=count_dispatchable(folder), unit="file", desc="classifying the demo hotels") as bar:
        result = ingest_folder(folder, app.store, bar.update)
    counts = ", ".join(f"{k}={v}" for k, v in sorted(app.hotels().count_images().items()) if v)
    retry = len(result.failed_messages)
    print(f"Demo hotels ingested: {app.hotels().count_hotels()} hotels, {counts}; {retry} to retry")


def _say_models(app) -> None:
    """One line on what the models are: trained on the synthetic demo data, tiny random ones, or both."""
    from vitrine.api.routes.operations import model_provenance

    provenance = model_provenance(app)
    demo = sorted(m for m, p in provenance.items() if p == "demo")
    tiny = sorted(m for m, p in provenance.items() if p == "tiny")
    if demo:
        print(
            f"Demo models trained on synthetic data by `make demo-models` (demo-models/): {', '.join(demo)}"
            + (f"; tiny random models (answers not meaningful): {', '.join(tiny)}" if tiny else "")
        )
    elif app.tiny_models:
        print(
            "Offline profile: tiny randomly-initialised models (no model hub here) — results are not meaningful."
        )


def cmd_prepare(args: argparse.Namespace) -> int:
    """Everything ``make run`` needs before serving: models (tiny ones offline) and a demo catalog."""
    from vitrine.config import settings

    s = settings()
    app = _services()  # builds any missing tiny model
    from vitrine_dev.training.demo_models import install

    hotels = app.hotels().count_hotels() if app.hotel_catalog is not None else 0
    installed = install(s, {"catalog": app.catalog.count_products(), "hotels": hotels})
    if installed:
        from vitrine import wiring

        wiring.reset()  # the endpoints load the demo weights now in place of the tiny ones
        app = _services()
    _say_models(app)
    _prepare_hotels(app, s.home.resolve() / "demo-hotels", args.demo_hotels)
    if app.catalog.count_products() > 0:
        print(f"Catalog has {app.catalog.count_products()} products: nothing to prepare.")
        return 0
    from vitrine_dev.demo import generate
    from vitrine_dev.ingest import ingest_folder

    demo_dir = s.home.resolve() / "demo"
    if not (demo_dir / "products").is_dir():
        summary = generate(demo_dir, products=args.demo_products, street_photos=args.street)
        print(
            f"Generated a synthetic demo catalog: {summary.products} products, {summary.images} images, "
            f"{summary.street_photos} street photos in {demo_dir}"
        )
    from tqdm import tqdm

    from vitrine_dev.ingest import count_dispatchable

    with tqdm(total=count_dispatchable(demo_dir), unit="file", desc="ingesting the demo catalog") as bar:
        result = ingest_folder(demo_dir, app.store, bar.update)
    counts = ", ".join(f"{k}={v}" for k, v in sorted(app.catalog.count_images().items()) if v)
    print(f"Demo catalog ingested: {counts}; {len(result.failed_messages)} to retry")
    if not args.verbose:
        print(f"Per-object logs: {s.home.resolve() / 'logs' / 'vitrine.jsonl'}")
    return cmd_calibrate(
        argparse.Namespace(truth=demo_dir / "street" / "truth.json", min_precision=0.9, from_prepare=True)
    )


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure the confidence threshold on labelled photos and store it for the API."""
    from vitrine.search import calibration

    app = _services()
    measured = calibration.measure_top(app.visual_search, calibration.labelled_items(args.truth))
    embedder = app.endpoints["dino_embed"]
    result = calibration.fit(
        measured, args.min_precision, model=str(getattr(embedder, "model_dir", embedder.name))
    )
    calibration.save(app.store, result)
    found = round((result.recall_at_5 or 0) * result.samples)
    print(
        f"search calibration on {result.samples} labelled street items: {found}/{result.samples} find their "
        f"product in the top 5 (recall@5 {result.recall_at_5:.2f}), {result.correct_top1}/{result.samples} first "
        f"(rank-1 {result.recall_at_1:.2f}); match threshold {result.threshold:.4f}: at it precision "
        f"{result.precision:.2f}, recall {result.recall:.2f}"
        + (
            ""
            if result.precision
            else f" (no threshold reaches precision {args.min_precision}: no hit is confident)"
        )
    )
    if not getattr(args, "from_prepare", False):
        print("Restart `vitrine serve` to use it.")
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print every setting as the README's Markdown table (the README's copy is tested against this)."""
    from vitrine_dev.settings_doc import settings_table

    print(settings_table())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitrine", description="Multimodal image intelligence for shops.")
    parser.add_argument(
        "--verbose", action="store_true", help="per-object JSON logs on the terminal (default: the log file)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="serve the API and the shopper's page locally")
    serve.add_argument("--port", type=int, default=None, help="port (default: $PORT or 8000)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.set_defaults(func=cmd_serve)

    ingest = commands.add_parser(
        "ingest", help="put files laid out as the bucket (products/{code}/...) into it and ingest them"
    )
    ingest.add_argument("path", nargs="?", type=Path, help="folder laid out as the bucket")
    ingest.add_argument("--report", action="store_true", help="list what was indexed and why not")
    ingest.add_argument(
        "--status",
        choices=list(ImageStatus),
        help="report only this status",
    )
    ingest.add_argument("--limit", type=int, default=100, help="records in the report (default 100)")
    ingest.add_argument("--json", action="store_true", help="report as JSON")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.set_defaults(func=cmd_ingest)

    calibrate = commands.add_parser(
        "calibrate", help="measure the score under which a match is flagged not confident, on labelled photos"
    )
    calibrate.add_argument(
        "--truth",
        type=Path,
        required=True,
        help="truth.json of labelled photos (format of `vitrine demo`'s street/truth.json)",
    )
    calibrate.add_argument(
        "--min-precision",
        type=float,
        default=0.9,
        help="share of confident top hits that must be right (default 0.9)",
    )
    calibrate.set_defaults(func=cmd_calibrate)

    prepare = commands.add_parser(
        "prepare", help="build what the local profile needs: models and a demo catalog"
    )
    prepare.add_argument(
        "--demo-products", type=int, default=240, help="products in the demo catalog (default 240)"
    )
    prepare.add_argument("--street", type=int, default=40, help="street photos in the demo (default 40)")
    prepare.add_argument(
        "--demo-hotels", type=int, default=24, help="synthetic hotels to classify (default 24; 0: none)"
    )
    prepare.set_defaults(func=cmd_prepare)

    settings_cmd = commands.add_parser(
        "settings", help="print every setting (environment variable) as a table"
    )
    settings_cmd.set_defaults(func=cmd_settings)

    from vitrine_dev import demo, demo_hotels
    from vitrine_dev.modelkit import commands as model_commands
    from vitrine_dev.training import commands as training_commands

    demo.add_parser(commands)
    demo_hotels.add_parser(commands)
    model_commands.add_parser(commands)
    training_commands.add_parser(commands)
    return parser


def _console(verbose: bool) -> None:
    """Per-object logs to the log file unless ``--verbose``: import every handler first (each creates its
    logger at import), then route them."""
    if verbose:
        return
    import importlib

    from vitrine.config import settings
    from vitrine_dev.console import route_logs
    from vitrine_dev.ingest import HANDLERS

    for module in {"handlers.api", *HANDLERS.values()}:
        importlib.import_module(module)
    route_logs(settings().home)


def main(argv: Sequence[str] | None = None) -> int:
    from vitrine_dev.console import quiet_libraries

    quiet_libraries()
    words = list(sys.argv[1:] if argv is None else argv)
    passthrough = words[words.index("--") + 1 :] if "--" in words else []
    parser = build_parser()
    args = parser.parse_args(words[: words.index("--")] if "--" in words else words)
    if passthrough:
        if not hasattr(args, "script_args"):
            parser.error(f"`{args.command}` takes no arguments after --")
        args.script_args = passthrough  # `vitrine train MODEL -- --steps 100`: for the training script
    try:
        _console(args.verbose)
        return int(args.func(args) or 0)
    except ConfigError as error:
        print(f"vitrine: {error.message}", file=sys.stderr)
        return 2
    except VitrineError as error:
        print(f"vitrine: {error.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
