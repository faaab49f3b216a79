"""make up brings Letta's record of the stack's model provider in step with the settings before Letta starts
(config/letta-provider-sync.sql): the configured endpoint and model, nothing else."""

from __future__ import annotations

import pytest

from services.shared.settings import LLMSettings, Settings
from services.stack.database import PROVIDER_SYNC_SQL, provider_sync_variables

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("llm", "expected"),
    [
        ({"provider": "local", "port": 9}, {"endpoint": "http://127.0.0.1:9/v1", "model": "qwen2.5-coder-0.5b"}),
        ({"provider": "local", "model": "q'x"}, {"endpoint": "http://127.0.0.1:8090/v1", "model": "q'x"}),
        (
            {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h:11434/v1/", "model": "llama3.1:8b"},
            {"endpoint": "http://h:11434/v1", "model": "llama3.1:8b"},
        ),
        ({"OPENAI_API_KEY": "k"}, {"endpoint": "https://api.openai.com/v1", "model": "gpt-4o-mini"}),
    ],
)
def test_the_sync_gets_the_configured_endpoint_and_model(llm: dict[str, str], expected: dict[str, str]) -> None:
    settings = Settings(_env_file=None, llm=LLMSettings(_env_file=None, **llm))
    assert provider_sync_variables(settings) == expected


def test_the_sync_touches_only_our_base_provider_and_quotes_its_values() -> None:
    sql = PROVIDER_SYNC_SQL.read_text()
    statements = [s for s in sql.split(";") if "UPDATE" in s]
    assert len(statements) == 2
    for statement in statements:
        assert "name = 'openai' AND provider_category = 'base' AND organization_id IS NULL" in statement
    assert "name = :'model'" in statements[1] and "is_deleted = false" in statements[1]
    assert ":'endpoint'" in statements[0] and ":endpoint" not in sql.replace(":'endpoint'", "")
