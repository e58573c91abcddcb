"""Fail on a breaking change to the GraphQL schema that CHANGELOG.md does not announce.

Compares `schema.graphql` (the working tree's; tests/test_schema.py keeps it equal to
the code's export) with the same file at the base: the last `v*` tag reachable from HEAD,
else the merge base with origin/main, else with main, else HEAD itself. Breaking changes
are graphql-core's `find_breaking_changes`.

A breaking change is announced by a line under `## Unreleased` in CHANGELOG.md that
starts with `- BREAKING:` and names what it breaks as this script prints it, e.g.
`- BREAKING: Invoice.amount was removed; read Invoice.total instead.`

Reads files and git only (no import of `app`), so it runs whatever the modules are called.
Exit status: 0 nothing unannounced, 1 an unannounced breaking change, 2 it could not compare.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from graphql import (
    GraphQLEnumType,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)
from graphql.utilities import find_breaking_changes

SCHEMA_PATH = "schema.graphql"
CHANGELOG_PATH = "CHANGELOG.md"
UNRELEASED = "## Unreleased"
BREAKING_PREFIX = "- BREAKING:"
TOKEN = re.compile(r"@?[A-Za-z_]\w*(?:\.\w+)?")


class CompareError(Exception):
    """The comparison cannot be made (no git, an unreadable schema)."""


def git(*args: str) -> str | None:
    """git's stdout, or None when the command fails (an unknown ref, no repository)."""
    ran = subprocess.run(["git", *args], capture_output=True, text=True, check=False)  # noqa: S603, S607
    return ran.stdout if ran.returncode == 0 else None


def find_base() -> str:
    """The commit to compare with: the last release, else where this branch left main."""
    tag = git("describe", "--tags", "--abbrev=0", "--match", "v*", "HEAD")
    if tag:
        return tag.strip()
    for main in ("origin/main", "main"):
        base = git("merge-base", "HEAD", main)
        if base:
            return base.strip()
    head = git("rev-parse", "--verify", "HEAD")
    if head is None:
        raise CompareError("not in a git checkout with a commit: pass --base REF")
    return head.strip()


def schema_at(base: str, path: str) -> str | None:
    """The schema as committed at `base`, or None if it did not exist there."""
    return git("show", f"{base}:{path}")


def coordinates(schema: GraphQLSchema) -> set[str]:
    """Every name a change can be about: types, their fields and values, directives."""
    names = {f"@{directive.name}" for directive in schema.directives}
    for name, named in schema.type_map.items():
        names.add(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            names.update(f"{name}.{field}" for field in named.fields)
        elif isinstance(named, GraphQLEnumType):
            names.update(f"{name}.{value}" for value in named.values)
    return names


def subject(description: str, known: set[str]) -> str:
    """What a change is about: the most precise name in its description (Type.field over
    Type); the first word if it names nothing in either schema."""
    tokens: list[str] = [token.rstrip(".") for token in TOKEN.findall(description)]
    named = [token for token in tokens if token in known]
    precise = [token for token in named if "." in token]
    return (precise or named or tokens or [description])[0]


def unreleased_breaking(changelog: str) -> list[str]:
    """The `- BREAKING:` lines of CHANGELOG.md's Unreleased section."""
    lines: list[str] = []
    inside = False
    for line in changelog.splitlines():
        if line.startswith("## "):
            inside = line.strip().lower() == UNRELEASED.lower()
        elif inside and line.strip().startswith(BREAKING_PREFIX):
            lines.append(line.strip())
    return lines


def announced(name: str, entries: Iterable[str]) -> bool:
    # `Invoice` is not announced by an entry about `Invoice.amount` alone.
    pattern = re.compile(rf"(?<![\w.@]){re.escape(name)}(?!\.?\w)")
    return any(pattern.search(entry) for entry in entries)


def unannounced(old_sdl: str, new_sdl: str, changelog: str) -> list[tuple[str, str]]:
    """(subject, description) of each breaking change no BREAKING entry names."""
    try:
        old, new = build_schema(old_sdl), build_schema(new_sdl)
    except GraphQLError as error:
        raise CompareError(f"a schema does not parse: {error.message}") from error
    known = coordinates(old) | coordinates(new)
    entries = unreleased_breaking(changelog)
    found = []
    for change in find_breaking_changes(old, new):
        name = subject(change.description, known)
        if not announced(name, entries):
            found.append((name, change.description))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base", help="commit or tag to compare with (default: see above)")
    parser.add_argument("--schema", default=SCHEMA_PATH, help="the current schema's file")
    parser.add_argument("--changelog", default=CHANGELOG_PATH, help="the changelog's file")
    args = parser.parse_args(argv)
    try:
        base = args.base or find_base()
        old_sdl = schema_at(base, args.schema)
        if old_sdl is None:
            print(f"schema check: no {args.schema} at {base}; nothing to compare")
            return 0
        new_sdl = Path(args.schema).read_text(encoding="utf-8")
        changelog_file = Path(args.changelog)
        changelog = changelog_file.read_text(encoding="utf-8") if changelog_file.exists() else ""
        found = unannounced(old_sdl, new_sdl, changelog)
    except (CompareError, OSError) as error:
        print(f"schema check: {error}", file=sys.stderr)
        return 2
    if not found:
        print(f"schema check: no unannounced breaking change since {base}")
        return 0
    print(f"schema check: breaking changes since {base} not in {args.changelog}:", file=sys.stderr)
    for name, description in found:
        print(f"  {name}: {description}", file=sys.stderr)
    print(
        f"announce each under '{UNRELEASED}' as a line '{BREAKING_PREFIX} <name> …', "
        "or keep the schema compatible",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
