"""make up un-deletes the configured model that Letta 0.16.8 soft-deleted after an earlier switch."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.unit


def test_the_revive_sql_names_only_the_configured_model_at_its_endpoint() -> None:
    from services.shared.settings import LLMSettings, Settings
    from services.stack.database import revive_model_sql

    sql = revive_model_sql(
        Settings(_env_file=None, llm=LLMSettings(_env_file=None, provider="local", model="q'x", port=9))
    )
    assert "name = 'q''x'" in sql and "= 'http://127.0.0.1:9/v1'" in sql
    assert sql.startswith("UPDATE provider_models SET is_deleted = false WHERE is_deleted AND model_type = 'llm'")
