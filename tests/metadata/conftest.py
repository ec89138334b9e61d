"""A MariaDB server for the session (tests/mariadb.py), and a fresh database per test."""

from __future__ import annotations

import pytest

from tests import mariadb


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
    return mariadb_server.new_database()
