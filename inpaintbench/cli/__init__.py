"""Command line: thin entry points over the plain functions of `inpaintbench.tasks`.

Config-driven commands (eval, train, report, compare, regress, bench, masks make) are Hydra apps
(overrides such as `model=opencv_ns masks=irregular`, `-m` for multirun sweeps); the file-oriented
ones (inpaint, masks check, weights, zoo) take ordinary flags. No logic lives here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from inpaintbench.cli.help import COMMAND_DOCS
from inpaintbench.errors import InpaintbenchError
from inpaintbench.registry import UnknownNameError

log = logging.getLogger("inpaintbench")

#: command -> (Hydra config name, tasks function name, one-line help); each has a --help page in COMMAND_DOCS
HYDRA_COMMANDS: dict[str, tuple[str, str, str]] = {
    "eval": ("eval", "evaluate", COMMAND_DOCS["eval"].summary),
    "train": ("train", "train", COMMAND_DOCS["train"].summary),
    "report": ("report", "report", COMMAND_DOCS["report"].summary),
    "compare": ("compare", "compare", COMMAND_DOCS["compare"].summary),
    "regress": ("regress", "regress", COMMAND_DOCS["regress"].summary),
    "bench": ("bench", "bench", COMMAND_DOCS["bench"].summary),
}
OTHER_COMMANDS: dict[str, str] = {
    "inpaint": "inpaint one image: --model NAME --image IN --mask MASK --out OUT [--weights FILE]",
    "masks": "masks make | check | publish | export: fixed mask sets; the published ones are in masks/",
    "weights": "list metric backbones and official releases; fetch / import / convert weight files",
    "zoo": "list the checkpoints in models/ with their cards and scores",
}


def _usage() -> str:
    lines = ["usage: inpaintbench COMMAND [ARGS]", "", "commands:"]
    for name, (_, _, text) in HYDRA_COMMANDS.items():
        lines.append(f"  {name:<9} {text}")
    for name, text in OTHER_COMMANDS.items():
        lines.append(f"  {name:<9} {text}")
    lines += ["", "Hydra commands take overrides (key=value) and --cfg job / -m (multirun);"]
    lines += ["`inpaintbench COMMAND --help` shows a command's keys with defaults, choices and examples."]
    return "\n".join(lines)


def _tasks() -> Any:
    from inpaintbench import tasks

    return tasks


def run_hydra(config_name: str, function_name: str, overrides: Sequence[str], command: str = "") -> None:
    """Run `tasks.<function_name>(cfg)` under `@hydra.main` with conf/<config_name>.yaml.

    `--help` prints the command's own page; config group choices are checked first (one line with
    did-you-mean, exit 2) and zoo checkpoint names resolved (`inpaintbench.cli.overrides`)."""
    import hydra

    from inpaintbench.config import CONF_DIR, register_resolvers

    if "--help" in overrides or "-h" in overrides:
        from inpaintbench.cli.help import render_help

        print(_guarded(lambda: render_help(command or config_name)))
        return
    from inpaintbench.cli.overrides import prepare

    overrides = _guarded(lambda: prepare(config_name, overrides))
    register_resolvers()
    task: Callable[[Any], Any] = getattr(_tasks(), function_name)

    @hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=config_name)
    def entry(cfg: Any) -> None:
        _guarded(lambda: task(cfg))

    sys.argv = [f"inpaintbench-{config_name}", *overrides]
    entry()


def _guarded(action: Callable[[], Any]) -> Any:
    """User errors become one line on stderr and exit status 2, not a traceback."""
    try:
        return action()
    except (InpaintbenchError, UnknownNameError, FileNotFoundError) as error:
        print(f"inpaintbench: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(
            "inpaintbench: interrupted; finished shards are kept, run the same command again to resume",
            file=sys.stderr,
        )
        raise SystemExit(130) from None


def _inpaint(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="inpaintbench inpaint", description=OTHER_COMMANDS["inpaint"])
    parser.add_argument("--model", required=True, help="registry name, e.g. opencv_telea, lama_big")
    parser.add_argument("--image", required=True)
    parser.add_argument("--mask", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--weights", default=None, help="weight file (official release or .safetensors)")
    parser.add_argument("--mask-polarity", choices=["hole_white", "hole_black"], default="hole_white")
    parser.add_argument("--mask-threshold", type=float, default=0.5, help="on [0,1] grey levels")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (slower for one image)")
    args = parser.parse_args(argv)
    _guarded(
        lambda: _tasks().inpaint_file(
            model=args.model,
            image=args.image,
            mask=args.mask,
            out=args.out,
            weights=args.weights,
            mask_polarity=args.mask_polarity,
            mask_threshold=args.mask_threshold,
            device=args.device,
            compile=args.compile,
        )
    )


MASKS_USAGE = """usage: inpaintbench masks SUBCOMMAND
  make masks=<protocol> [count=N] [--force]   your own fixed set in outputs/masks/<protocol>/ (make --help: keys)
  check [ROOT] [--full]                        verify the published sets in masks/ (or every set under ROOT)
  publish [SET ...]                            write standard sets missing from masks/ (after a version bump)
  export SET --layout folder|lama|nvidia OUT [--images DIR] [--root DIR]
                                               a published set in another tool's file layout"""


def _masks(argv: Sequence[str]) -> None:
    if not argv or argv[0] in {"-h", "--help"}:
        print(MASKS_USAGE)
        return
    action, rest = argv[0], argv[1:]
    if action == "make":
        overrides = ["overwrite=true" if arg == "--force" else arg for arg in rest]
        run_hydra("masks_make", "masks_make", overrides, command="masks make")
    elif action == "check":
        parser = argparse.ArgumentParser(prog="inpaintbench masks check")
        parser.add_argument("root", nargs="?", default=None, help="default: the published sets in masks/")
        parser.add_argument("--full", action="store_true", help="regenerate every file, not every 7th")
        args = parser.parse_args(rest)
        ok = _guarded(lambda: _tasks().masks_check(args.root, full=args.full))
        raise SystemExit(0 if ok else 1)
    elif action == "publish":
        parser = argparse.ArgumentParser(prog="inpaintbench masks publish")
        parser.add_argument("sets", nargs="*", help="standard set names (default: all missing ones)")
        args = parser.parse_args(rest)
        _guarded(lambda: _tasks().masks_publish(args.sets))
    elif action == "export":
        parser = argparse.ArgumentParser(prog="inpaintbench masks export")
        parser.add_argument("set", help="published set name (e.g. irregular-v1-256) or a set folder")
        parser.add_argument("out", help="new folder to write")
        parser.add_argument("--layout", required=True, choices=["folder", "lama", "nvidia"])
        parser.add_argument("--images", default=None, help="image folder to pair with (required by lama)")
        parser.add_argument("--root", default=None, help="folder holding the set (default: masks/)")
        args = parser.parse_args(rest)
        _guarded(lambda: _tasks().masks_export(args.set, args.layout, args.out, images=args.images, root=args.root))
    else:
        import difflib

        close = difflib.get_close_matches(action, ["make", "check", "publish", "export"], n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        print(f"inpaintbench masks: unknown subcommand '{action}'{hint}\n{MASKS_USAGE}", file=sys.stderr)
        raise SystemExit(2)


def _weights(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="inpaintbench weights", description=OTHER_COMMANDS["weights"])
    sub = parser.add_subparsers(dest="action")
    sub.add_parser("list", help="metric backbones and official releases, present or not (default)")
    fetch = sub.add_parser("fetch", help="download a known weight file (direct URLs only), resumable")
    fetch.add_argument("name")
    imp = sub.add_parser("import", help="copy a downloaded file into the torch hub cache after a hash check")
    imp.add_argument("file")
    convert = sub.add_parser("convert", help="official release file -> .safetensors + card")
    convert.add_argument("--model", required=True)
    convert.add_argument("file")
    convert.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    tasks = _tasks()
    if args.action in (None, "list"):
        _guarded(tasks.weights_status)
    elif args.action == "fetch":
        _guarded(lambda: tasks.weights_fetch(args.name))
    elif args.action == "import":
        _guarded(lambda: tasks.weights_import(args.file))
    else:
        _guarded(lambda: tasks.weights_convert(args.model, args.file, out=args.out))


def _zoo(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(prog="inpaintbench zoo", description=OTHER_COMMANDS["zoo"])
    parser.add_argument("--models-dir", default=None, help="the committed zoo (default: models/)")
    parser.add_argument("--exports-dir", default=None, help="your trained exports (default: outputs/models/)")
    args = parser.parse_args(argv)
    _guarded(lambda: _tasks().zoo(args.models_dir, args.exports_dir))


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return
    command, rest = argv[0], argv[1:]
    if command in HYDRA_COMMANDS:
        if command == "compare":
            rest = _compare_positionals(rest)
        config_name, function_name, _ = HYDRA_COMMANDS[command]
        run_hydra(config_name, function_name, rest, command=command)
    elif command == "inpaint":
        _inpaint(rest)
    elif command == "masks":
        _masks(rest)
    elif command == "weights":
        _weights(rest)
    elif command == "zoo":
        _zoo(rest)
    else:
        known = [*HYDRA_COMMANDS, *OTHER_COMMANDS]
        import difflib

        close = difflib.get_close_matches(command, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        print(f"inpaintbench: unknown command '{command}'{hint}\n\n{_usage()}", file=sys.stderr)
        raise SystemExit(2)


def _compare_positionals(rest: list[str]) -> list[str]:
    """`compare A B [overrides]` -> overrides `a=A b=B`."""
    positional = [r for r in rest if "=" not in r and not r.startswith("-")]
    others = [r for r in rest if r not in positional]
    if len(positional) not in (0, 2):
        raise SystemExit("usage: inpaintbench compare MODEL_A MODEL_B [overrides]")
    names = [f"a={positional[0]}", f"b={positional[1]}"] if positional else []
    return names + others
