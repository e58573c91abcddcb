"""scripts/schema_breaking.py (`make lint`) in a throwaway git repository: the schema as
committed on main or at the last tag, against the working tree's, and the changelog."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "schema_breaking.py"
SCHEMA = """\
type Invoice {
  id: ID!
  total: Int!
  amountPaid: Int!
}

type Query {
  invoice(id: ID!): Invoice
}
"""
WITHOUT_AMOUNT_PAID = SCHEMA.replace("  amountPaid: Int!\n", "")
WITH_CURRENCY = SCHEMA.replace("  total: Int!\n", "  total: Int!\n  currency: String!\n")
CHANGELOG = "# Changelog\n\n## Unreleased\n\n{entries}\n## v0.1.0\n\n{released}\n"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.git("init", "-q", "-b", "main")
        self.write(SCHEMA, "")
        self.commit("the first schema")

    def git(self, *args: str) -> None:
        env = {**os.environ, **GIT_ENV}
        subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True)  # noqa: S603, S607

    def write(self, schema: str, entries: str, released: str = "") -> None:
        (self.path / "schema.graphql").write_text(schema)
        changelog = CHANGELOG.format(entries=entries, released=released)
        (self.path / "CHANGELOG.md").write_text(changelog)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)

    def check(self) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **GIT_ENV}
        return subprocess.run(  # noqa: S603
            [sys.executable, str(SCRIPT)],
            cwd=self.path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_an_unchanged_schema_passes(repo: Repo) -> None:
    ran = repo.check()
    assert ran.returncode == 0, ran.stderr


def test_a_removed_field_fails_and_names_the_field(repo: Repo) -> None:
    # given the working tree's schema without a field that main has
    repo.write(WITHOUT_AMOUNT_PAID, "- Faster receipts.\n")
    # when the check runs
    ran = repo.check()
    # then it fails, naming the field as the changelog entry must
    assert ran.returncode == 1
    assert "Invoice.amountPaid: Field Invoice.amountPaid was removed." in ran.stderr


def test_an_added_field_passes(repo: Repo) -> None:
    repo.write(WITH_CURRENCY, "")
    ran = repo.check()
    assert ran.returncode == 0, ran.stderr


def test_a_removed_field_with_a_breaking_entry_passes(repo: Repo) -> None:
    repo.write(WITHOUT_AMOUNT_PAID, "- BREAKING: `Invoice.amountPaid` was removed; use total.\n")
    ran = repo.check()
    assert ran.returncode == 0, ran.stderr


@pytest.mark.parametrize(
    ("entries", "released"),
    [
        # an entry that only mentions it, not as BREAKING
        ("- Invoice.amountPaid was removed.\n", ""),
        # a BREAKING entry about something else (the type is not its field)
        ("- BREAKING: Invoice.amountPaidLater was removed.\n- BREAKING: Invoice gone.\n", ""),
        # a BREAKING entry of a past release, not of this one
        ("", "- BREAKING: Invoice.amountPaid was removed.\n"),
    ],
    ids=["not-breaking", "other-names", "released-section"],
)
def test_only_a_breaking_entry_under_unreleased_naming_the_change_lets_it_pass(
    repo: Repo, entries: str, released: str
) -> None:
    repo.write(WITHOUT_AMOUNT_PAID, entries, released)
    ran = repo.check()
    assert ran.returncode == 1, ran.stdout


def test_a_branch_is_compared_with_where_it_left_main(repo: Repo) -> None:
    # given a branch whose commit removed the field, and main that moved on without it
    repo.git("checkout", "-q", "-b", "feature")
    repo.write(WITHOUT_AMOUNT_PAID, "")
    repo.commit("remove a field")
    # then the committed removal fails the branch's check
    ran = repo.check()
    assert ran.returncode == 1
    assert "Invoice.amountPaid" in ran.stderr


def test_the_last_release_tag_is_the_base_when_there_is_one(repo: Repo) -> None:
    # given v0.1.0 tagged, then the field removed on main itself (its merge base is HEAD)
    repo.git("tag", "v0.1.0")
    repo.write(WITHOUT_AMOUNT_PAID, "")
    repo.commit("remove a field")
    # then the removal since the release fails, until announced
    assert repo.check().returncode == 1
    repo.write(WITHOUT_AMOUNT_PAID, "- BREAKING: Invoice.amountPaid was removed.\n")
    repo.commit("announce it")
    assert repo.check().returncode == 0
