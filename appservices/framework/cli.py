"""The command line every bridge shares.

``python3 -m appservices.<name> --config bridge.yaml`` runs the bridge;
``python3 -m appservices.<name> --config bridge.yaml generate-registration -o reg.yaml``
writes a registration with fresh tokens and stores the same tokens in the config.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from aiohttp import web

from appservices.framework.bridge import Bridge
from appservices.framework.config import C, ConfigProblem, load_config
from appservices.framework.registration import generate_registration


def main(
    name: str,
    model: type[C],
    create_bridge: Callable[[C], Bridge],
    argv: list[str] | None = None,
) -> int:
    """Parses ``argv`` and runs the bridge or writes its registration; the exit code."""
    parser = argparse.ArgumentParser(prog=f"python3 -m appservices.{name}")
    parser.add_argument("--config", "-c", required=True, help="the bridge's YAML config")
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate-registration", help="write the registration YAML")
    gen.add_argument("--output", "-o", default="registration.yaml", help="where to write it")
    args = parser.parse_args(argv)

    try:
        config = load_config(model, args.config)
    except (OSError, ConfigProblem, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    if args.command == "generate-registration":
        registration, updated = generate_registration(config)
        Path(args.output).write_text(yaml.safe_dump(registration, sort_keys=False), "utf-8")
        Path(args.config).write_text(
            yaml.safe_dump(updated.model_dump(mode="json"), sort_keys=False), "utf-8"
        )
        print(f"wrote {args.output}; add it to the homeserver's app_service_config_files")
        return 0

    if not config.appservice.as_token or not config.appservice.hs_token:
        print("error: no tokens in the config; run generate-registration first", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    bridge = create_bridge(config)
    web.run_app(
        bridge.make_app(), host=config.appservice.host, port=config.appservice.port, print=None
    )
    return 0
