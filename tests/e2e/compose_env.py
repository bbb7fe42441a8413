"""Reading docker-compose.yml and the Dockerfile the way the engines do, for tests without one.

`interpolate` implements compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}` and
`${VAR:?message}` (the forms our file uses); `service_env` gives a service's container environment:
the `.env` values (env_file) overlaid by its `environment:` block, interpolated from `.env`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?)(?P<arg>[^}]*))?\}")


class MissingMandatory(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name, op, arg = m["name"], m["op"], m["arg"] or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if op in (":?", "?"):
            if value is None or (op == ":?" and not value):
                raise MissingMandatory(f"{name}: {arg}")
            return value
        return value or ""

    return _VAR.sub(one, text)


def compose_file() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def service_env(service: str, dotenv: dict[str, str]) -> dict[str, str]:
    svc = compose_file()["services"][service]
    env: dict[str, str] = dict(dotenv) if svc.get("env_file") else {}
    for key, value in (svc.get("environment") or {}).items():
        env[key] = interpolate(str(value), dotenv)
    return env


def parse_dotenv(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


@dataclass
class Dockerfile:
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # (sources, destination)
    user: str = ""
    workdir: str = ""
    cmd: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    run: list[str] = field(default_factory=list)


def dockerfile() -> Dockerfile:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    df = Dockerfile()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "COPY":
            parts = shlex.split(rest)
            df.copies.append((parts[:-1], parts[-1]))
        elif word == "USER":
            df.user = rest.strip()
        elif word == "WORKDIR":
            df.workdir = rest.strip()
        elif word == "CMD":
            df.cmd = list(yaml.safe_load(rest))
        elif word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                df.env[key] = value
        elif word == "RUN":
            df.run.append(rest)
    return df
