"""Which image each compose service runs is a setting (official pinned image by default, a stand-in in
make test-compose), our image's bases are build arguments with the Dockerfile's defaults, and this machine's
CA certificates reach only the test build path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.shared.settings import ROOT, ImageSettings

pytestmark = pytest.mark.unit

COMPOSE = ROOT / "compose.yaml"
IMAGE_SETTING = {
    "livekit": "LIVEKIT_IMAGE",
    "letta-db": "POSTGRES_IMAGE",
    "letta": "LETTA_IMAGE",
    "caddy": "CADDY_IMAGE",
    "redis": "REDIS_IMAGE",
}
DEFAULTS = {name.upper(): field.default for name, field in ImageSettings.model_fields.items()}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def dockerfile_args(path: Path) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", path.read_text(), re.MULTILINE))


@pytest.mark.parametrize(("service", "setting"), IMAGE_SETTING.items())
def test_each_upstream_image_is_a_setting_defaulting_to_the_official_image(
    raw: dict[str, Any], service: str, setting: str
) -> None:
    assert raw["services"][service]["image"] == f"${{{setting}:-{DEFAULTS[setting]}}}"
    assert not DEFAULTS[setting].startswith("lvs-"), "the default is the official image, never a stand-in"


def test_our_image_is_built_on_the_host_network_from_the_dockerfiles_default_bases(raw: dict[str, Any]) -> None:
    build = raw["services"]["web"]["build"]
    assert build["network"] == "host", "dockerd runs with --bridge=none on test machines"
    args = dockerfile_args(ROOT / "Dockerfile")
    for name in ("PYTHON_IMAGE", "NODE_IMAGE"):
        assert build["args"][name] == f"${{{name}:-{args[name]}}}"
        assert DEFAULTS[name] == args[name], f"settings default of {name} differs from the Dockerfile's"


def test_the_machines_ca_certificates_reach_only_the_test_build_path() -> None:
    user_path = [ROOT / "Dockerfile", *(ROOT / "docker" / "base").glob("[!t]*/Dockerfile")]
    assert len(user_path) == 3
    for path in user_path:
        text = path.read_text()
        for marker in ("ca-certificates/", "PIP_CERT", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS", "certs/"):
            assert marker not in text, f"{path.relative_to(ROOT)} carries {marker}: test builds only"
    assert "PIP_CERT" in (ROOT / "docker" / "base" / "test-ca" / "Dockerfile").read_text()


def test_every_stand_in_is_described_with_its_upstream_image() -> None:
    readme = (ROOT / "docker" / "standins" / "README.md").read_text()
    folders = sorted(p.name for p in (ROOT / "docker" / "standins").iterdir() if p.is_dir())
    assert folders == ["caddy", "letta", "livekit-server", "pgvector", "redis"]
    for folder in folders:
        assert f"(`{folder}/`)" in readme
    for setting in ("LIVEKIT_IMAGE", "POSTGRES_IMAGE", "LETTA_IMAGE", "CADDY_IMAGE", "REDIS_IMAGE"):
        assert f"`{DEFAULTS[setting]}`" in readme, f"{DEFAULTS[setting]} is not named in the stand-ins README"
