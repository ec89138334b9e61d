"""The ML-Metadata connection built from settings: SQLite, MySQL, Cloud SQL with TLS."""

from __future__ import annotations

from pathlib import Path

from framework.settings.loader import settings_from_dict


def settings(metadata: dict, environ: dict | None = None):
    return settings_from_dict({"base": {"pipeline": {"name": "taxi", "data_root": "data",
                                                     "pipeline_root": "root", "serving_dir": "s"},
                                        "metadata": metadata}},
                              "local", root=Path("/project"), environ=environ or {})


def test_mysql_settings_with_tls_reach_the_connection_config():
    from framework.metadata.store import connection_config

    s = settings({"mysql": {"host": "10.0.0.5", "port": 3307, "database": "mlmd",
                            "user": "pipelines", "password_env": "MLMD_PW",
                            "ssl": {"ca": "certs/server-ca.pem", "cert": "/etc/mlmd/c.pem",
                                    "key": "/etc/mlmd/k.pem", "verify_server_cert": False}}})
    import os
    from unittest import mock

    with mock.patch.dict(os.environ, {"MLMD_PW": "s3cret-pw"}):
        config = connection_config(s)
    assert config.WhichOneof("config") == "mysql"
    assert (config.mysql.host, config.mysql.port, config.mysql.database, config.mysql.user) == (
        "10.0.0.5", 3307, "mlmd", "pipelines")
    assert config.mysql.password == "s3cret-pw"
    ssl = config.mysql.ssl_options
    assert ssl.ca == "/project/certs/server-ca.pem"  # relative paths: from the project root
    assert (ssl.cert, ssl.key, ssl.verify_server_cert) == ("/etc/mlmd/c.pem", "/etc/mlmd/k.pem",
                                                          False)


def test_mysql_wins_over_the_sqlite_path_every_environment_inherits():
    from framework.metadata.store import connection_config, describe_store

    s = settings({"sqlite_path": ".mlops/m.sqlite",
                  "mysql": {"host": "127.0.0.1", "database": "mlmd", "password_env": "PW"}})
    assert connection_config(s).WhichOneof("config") == "mysql"
    assert describe_store(s) == "MySQL root@127.0.0.1:3306/mlmd"


def test_a_password_variable_that_is_not_set_is_named_in_the_reason(monkeypatch):
    import socket

    from framework.metadata.store import unavailable_reason

    monkeypatch.delenv("MLMD_PW_UNSET", raising=False)
    with socket.socket() as server:  # something answers at the address
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        s = settings({"mysql": {"host": "127.0.0.1", "port": port, "database": "mlmd",
                                "password_env": "MLMD_PW_UNSET"}})
        assert unavailable_reason(s) == (
            f"the server at 127.0.0.1:{port} refused user 'root': the password variable "
            "MLMD_PW_UNSET is not set")

