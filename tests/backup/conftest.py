"""A second fresh PostgreSQL schema, for a restore or migrate between two of them."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest


@pytest.fixture
def second_postgres_url(postgres_admin_url: str) -> Iterator[str]:
    schema = "loomal_test_" + secrets.token_hex(6)
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    yield f"{postgres_admin_url}?options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
