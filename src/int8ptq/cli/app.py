"""The dispatch table and the entry point: parse, route output, run one command, map errors to
exit codes (2: bad input, one line; 1: unexpected, one line unless --debug; 130: interrupted)."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import warnings
from collections.abc import Sequence

from int8ptq.cli import benchmark, compare, demo, evaluate, quantize, reproduce, run, tune, zoo
from int8ptq.cli import options as o
from int8ptq.cli.output import configure
from int8ptq.errors import UserError

COMMANDS: dict[str, o.Command] = {
    c.name: c
    for c in (
        quantize.COMMAND,
        tune.COMMAND,
        evaluate.COMMAND,
        benchmark.COMMAND,
        compare.COMMAND,
        run.COMMAND,
        zoo.COMMAND,
        reproduce.COMMAND,
        demo.COMMAND,
    )
}


def build_parser() -> argparse.ArgumentParser:
    ap = o.Parser(
        prog="int8ptq",
        description="Post-training INT8 quantization of ONNX image models.",
        epilog=o.examples(tuple(c.examples[0] for c in COMMANDS.values())),
        formatter_class=o.Formatter,
    )
    ap.add_argument("--version", action="version", version=_version())
    sub = ap.add_subparsers(dest="cmd", required=True, parser_class=o.Parser, metavar="COMMAND")
    common = o.common_parent()
    for c in COMMANDS.values():
        p = sub.add_parser(
            c.name,
            help=c.help,
            description=textwrap.fill(c.description, 88),
            epilog=o.examples(c.examples),
            formatter_class=o.Formatter,
            parents=[] if c.name == "zoo" else [common],  # zoo's own subcommands take them
        )
        c.add_arguments(p)
    return ap


def _version() -> str:
    from int8ptq import __version__

    return f"int8ptq {__version__}"


def _one_line_warning(message, category, filename, lineno, line=None) -> str:  # noqa: ANN001
    return f"int8ptq: warning: {message}\n"


def main(argv: Sequence[str] | None = None) -> int:
    warnings.formatwarning = _one_line_warning
    args = build_parser().parse_args(argv)
    configure(args)
    try:
        return COMMANDS[args.cmd].run(args)
    except UserError as e:
        if args.debug:
            raise
        print(f"int8ptq: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("int8ptq: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - no traceback for users unless --debug
        if args.debug or os.environ.get("INT8PTQ_DEBUG"):
            raise
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"int8ptq: error: {type(e).__name__}: {msg} (run with --debug for details)", file=sys.stderr)
        return 1
