"""Command-line and YAML parsing of RLEF runs (TRL's `TrlParser`: `--config run.yaml`, flags override it)."""

from __future__ import annotations

import argparse
from dataclasses import fields
from typing import Any

from trl import GRPOConfig, TrlParser

from .rlef_config import RLEFConfig

RLEF_GROUP = "RLEF options (PPO with a turn-level critic; the paper's defaults)"


def rlef_option_names() -> list[str]:
    """Fields RLEF adds to TRL's `GRPOConfig`."""
    inherited = {f.name for f in fields(GRPOConfig)}
    return [f.name for f in fields(RLEFConfig) if f.name not in inherited]


def rlef_parser(script_arguments: type, **defaults: Any) -> TrlParser:
    """A `TrlParser` over (`script_arguments`, `RLEFConfig`) whose help lists the script's and RLEF's own options
    first, each in its own group, before TRL's. `defaults` replace the dataclasses' defaults (a YAML config
    given with `--config` replaces them in turn, and flags override both)."""
    parser = TrlParser((script_arguments, RLEFConfig), usage="%(prog)s [--config YAML] [--option value ...]")
    parser.set_defaults(**defaults)
    script_names = {f.name for f in fields(script_arguments)}
    script_group = parser.add_argument_group(f"{script_arguments.__name__} (this script)")
    rlef_group = parser.add_argument_group(RLEF_GROUP)
    rlef_names = set(rlef_option_names())
    for action in list(parser._optionals._group_actions):
        group = script_group if action.dest in script_names else rlef_group if action.dest in rlef_names else None
        if group is not None:
            parser._optionals._group_actions.remove(action)
            group._group_actions.append(action)
        if action.dest == "beta":
            action.help = "Not used: RLEF's one KL coefficient is --kl_coef (a non-zero --beta is refused)."
    parser._action_groups.remove(script_group)
    parser._action_groups.remove(rlef_group)
    at = parser._action_groups.index(parser._optionals)
    parser._action_groups[at:at] = [script_group, rlef_group]
    parser._optionals.title = "TRL's GRPOConfig and transformers' TrainingArguments"
    parser.add_argument(
        "--config", metavar="YAML", default=argparse.SUPPRESS, help="YAML file of option values; flags override it."
    )
    return parser


def parse_rlef_args(script_arguments: type, args: list[str] | None = None, **defaults: Any) -> tuple[Any, RLEFConfig]:
    """(script arguments, RLEFConfig) from the command line and an optional `--config` YAML file."""
    parser = rlef_parser(script_arguments, **defaults)
    try:
        script, config = parser.parse_args_and_config(args)
    except ValueError as error:  # a YAML key no dataclass knows, or a config check
        parser.error(str(error))
    return script, config
