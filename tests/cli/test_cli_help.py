"""Every `invoicepay` command's `--help`: a paragraph, examples, the environment it reads;
and every example, run as written against a fresh database of each backend.

The commands are discovered from the parser, so a new command without examples, or with
an example that does not run, fails here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
from collections.abc import Iterator

import pytest

from app.cli import commands as cli
from app.cli import helptext as cli_help
from tests.support.cli import demo_payment, set_cli_env
from tests.support.webhooks import given_example_webhook


@pytest.fixture
def url(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """`DATABASE_URL` of a clean, migrated database (each backend), as in test_cli."""
    set_cli_env(monkeypatch, database_url)
    return database_url


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, (*path, name))


COMMANDS = [path for path, _parser in _walk(cli.build_parser())]
LEAVES = [
    path
    for path, parser in _walk(cli.build_parser())
    if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
]
ASSIGNMENT = re.compile(r"^[A-Z_]+=")
CAPTURE = re.compile(r"^\w+=\$\((.*)\)$")


def help_text(path: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    assert cli.main([*path, "--help"]) == 0
    return capsys.readouterr().out


def test_the_parser_has_every_documented_command_and_no_other() -> None:
    assert {" ".join(path) for path in COMMANDS} == set(cli_help.COMMANDS)
    assert {" ".join(path) for path in LEAVES} >= {
        "migrate",
        "tenant create",
        "serve",
        "seed",
        "token",
        "session register",
        "ledger verify",
    }


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "invoicepay")
def test_every_command_explains_itself_with_examples_and_its_environment(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    text = help_text(path, capsys)

    assert text.startswith(f"usage: {' '.join(('invoicepay', *path))}")
    description = text.split("\n\n")[1]
    assert len(description.split()) >= 8, description
    examples = cli_help.examples(text)
    assert examples
    prefix = " ".join(("invoicepay", *path))
    assert any(prefix in example for example in examples), examples
    environment = text.split("\nEnvironment:\n", 1)[1]
    assert "DATABASE_URL" in environment
    assert ".env" in environment


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_exactly_the_commands_that_need_jwt_secret_name_it(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    environment = help_text(path, capsys).split("\nEnvironment:\n", 1)[1]
    needs = path in {("seed",), ("token",), ("serve",)}
    assert ("JWT_SECRET" in environment) is needs


def run_example(
    line: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run one example line as a shell would: `a && b`, `NAME=value` prefixes (except
    DATABASE_URL, which stays the test database) and `NAME=$(command)`."""
    for part in line.split(" && "):
        part = part.strip()
        captured = CAPTURE.match(part)
        # `$NAME` as a shell expands it (the refund examples name "$PAYMENT_ID").
        words = shlex.split(
            os.path.expandvars(captured.group(1) if captured else part), comments=True
        )
        while words and ASSIGNMENT.match(words[0]):
            name, _, value = words.pop(0).partition("=")
            if name != "DATABASE_URL":
                monkeypatch.setenv(name, value)
        assert words[0] == "invoicepay", line
        argv = words[1:]
        if argv[0] == "serve":
            # Serving blocks; the example must parse to the serve command. Real serving is
            # proven by the live tests (tests/support/live.py) and test_cli's serve tests.
            args = cli.build_parser().parse_args(argv)
            assert args.handler is cli.cmd_serve
            continue
        code = cli.main(argv)
        output = capsys.readouterr()
        assert code == 0, f"{line!r} exited {code}: {output.err}"
        assert output.out.strip(), f"{line!r} printed nothing"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "invoicepay")
def test_every_example_runs_on_a_database_holding_the_demo(
    path: tuple[str, ...],
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # given the demo, which the examples name (tenant, customers' e-mails)
    assert cli.main(["seed", "--demo"]) == 0
    # and a payment of invoice 100123, as PAYMENT_ID, for the refund examples
    monkeypatch.setenv("PAYMENT_ID", asyncio.run(demo_payment(url)))
    if path[:1] == ("webhooks",):
        given_example_webhook(url)  # the endpoint and event the examples name
    examples = cli_help.examples(help_text(path, capsys))

    # when each example runs as written, then each succeeds and prints something
    for line in examples:
        run_example(line, monkeypatch, capsys)

    # and the books are still straight
    assert cli.main(["ledger", "verify"]) == 0
    assert capsys.readouterr().out.startswith("ledger OK")
