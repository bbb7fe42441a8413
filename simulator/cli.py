"""CLI verbs of the simulator package: `simulator-keygen`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.settings import Settings
from simulator.keys import KEYS_FILE_NAME, KeyPermissions, append_to_keys_file, generate_key_pair


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "simulator-keygen",
        help="print a fresh API key pair for the simulator and register its public key",
        description="Generate a CDP-style key pair, register the public key in SIM_STATE_DIR/keys.json (a "
        "running standalone simulator picks it up without a restart) and print the key name and private key.",
    )
    p.add_argument("--type", choices=["ec", "ed25519"], default="ec", help="key type (default: ec = P-256, ES256)")
    p.add_argument("--json", action="store_true", help='print a key file ({"name", "privateKey"}) instead of text')
    p.add_argument("--read-only", action="store_true", help="register the key without trade permission")
    p.set_defaults(handler=keygen)


async def keygen(settings: Settings, args: argparse.Namespace) -> int:
    key = generate_key_pair(args.type)
    keys_file = settings.sim_state_dir / KEYS_FILE_NAME
    append_to_keys_file(keys_file, key.name, key.public_pem, KeyPermissions(can_trade=not args.read_only))
    out = sys.stdout
    if args.json:
        out.write(json.dumps({"name": key.name, "privateKey": key.private_pem}, indent=2) + "\n")
    else:
        out.write(f"# registered in {keys_file}\n")
        out.write(f"COINBASE_API_KEY={key.name}\n")
        out.write("COINBASE_API_SECRET:\n")
        out.write(key.private_pem)
    return 0
