"""The `int8ptq` command: a dispatch table of subcommands, one small module each
(`options` holds what they share). Each parses its options, calls the API and prints."""

from int8ptq.cli.app import COMMANDS, build_parser, main

__all__ = ["COMMANDS", "build_parser", "main"]
