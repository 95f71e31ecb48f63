"""Another client of the test database (a web worker, a psql session), beside Django's own connection."""

from __future__ import annotations

import psycopg
from django.db import connection


def session_params() -> dict[str, str]:
    """host, port, user, password and dbname of Django's test database, as psycopg.connect takes them."""
    params = connection.get_connection_params()
    return {key: str(params[key]) for key in ("dbname", "user", "password", "host", "port") if params.get(key)}


def session_open(*, dbname: str | None = None, autocommit: bool = False) -> psycopg.Connection:
    """A new connection to the test database (or to `dbname` on the same server)."""
    return psycopg.connect(**{**session_params(), **({"dbname": dbname} if dbname else {})}, autocommit=autocommit)
