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

from inpaintbench.errors import InpaintbenchError
from inpaintbench.registry import UnknownNameError

log = logging.getLogger("inpaintbench")

#: command -> (Hydra config name, tasks function name, one-line help)
HYDRA_COMMANDS: dict[str, tuple[str, str, str]] = {
    "eval": ("eval", "evaluate", "score a model on a dataset and mask protocol (per-bin table)"),
    "train": ("train", "train", "train a model from conf/model/<name>.yaml; resumes; exports .safetensors"),
    "report": ("report", "report", "gather runs under results/ into leaderboard.csv / leaderboard.md"),
    "compare": ("compare", "compare", "paired bootstrap comparison of two models: compare A B"),
    "regress": ("regress", "regress", "re-evaluate the zoo and compare with results/golden (CI)"),
    "bench": ("bench", "bench", "the default benchmark: zoo + baselines on the sample data"),
}
OTHER_COMMANDS: dict[str, str] = {
    "inpaint": "inpaint one image: --model NAME --image IN --mask MASK --out OUT [--weights FILE]",
    "masks": "masks make masks=<protocol> | masks check [ROOT]: fixed mask sets with manifests",
    "weights": "list metric backbones and official releases; fetch / import / convert weight files",
    "zoo": "list the checkpoints in models/ with their cards and scores",
}


def _usage() -> str:
    lines = ["usage: inpaintbench COMMAND [ARGS]", "", "commands:"]
    for name, (_, _, text) in HYDRA_COMMANDS.items():
        lines.append(f"  {name:<9} {text}")
    for name, text in OTHER_COMMANDS.items():
        lines.append(f"  {name:<9} {text}")
    lines += ["", "Hydra commands take overrides (key=value) and --help / --cfg job / -m (multirun)."]
    return "\n".join(lines)


def _tasks() -> Any:
    from inpaintbench import tasks

    return tasks


def run_hydra(config_name: str, function_name: str, overrides: Sequence[str]) -> None:
    """Run `tasks.<function_name>(cfg)` under `@hydra.main` with conf/<config_name>.yaml."""
    import hydra

    from inpaintbench.config import CONF_DIR, register_resolvers

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
        )
    )


def _masks(argv: Sequence[str]) -> None:
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: inpaintbench masks make masks=<protocol> [count=N] | inpaintbench masks check [ROOT]")
        return
    if argv[0] == "make":
        run_hydra("masks_make", "masks_make", argv[1:])
    elif argv[0] == "check":
        parser = argparse.ArgumentParser(prog="inpaintbench masks check")
        parser.add_argument("root", nargs="?", default="masks")
        args = parser.parse_args(argv[1:])
        ok = _guarded(lambda: _tasks().masks_check(args.root))
        raise SystemExit(0 if ok else 1)
    else:
        raise SystemExit(f"inpaintbench masks: unknown subcommand '{argv[0]}' (make, check)")


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
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args(argv)
    _guarded(lambda: _tasks().zoo(args.models_dir))


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
        run_hydra(config_name, function_name, rest)
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


if __name__ == "__main__":
    main()
