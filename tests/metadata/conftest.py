"""A MariaDB server for the session (tests/mariadb.py), and a fresh database per test."""

from __future__ import annotations

import itertools

import pytest

from tests import mariadb

_names = itertools.count(1)


@pytest.fixture(scope="session")
def mariadb_server(tmp_path_factory):
    missing = mariadb.available()
    if missing:
        pytest.skip(f"the MySQL metadata tests need MariaDB: {missing}")
    server = mariadb.start(tmp_path_factory.mktemp("mariadb"))
    yield server
    server.stop()


@pytest.fixture
def mysql_env(mariadb_server):
    """MLOPS_* variables for a new, empty ML-Metadata database on the session's server."""
    if mariadb_server.process.poll() is not None:  # a test stopped it: start it again
        mariadb_server.start_again()
    name = f"mlmd_{next(_names)}"
    mariadb_server.create_database(name)
    return mariadb_server.env(name)
