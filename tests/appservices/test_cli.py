"""The shared command line: generate-registration and config errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from appservices.crm_webhook import CrmBridgeConfig, create_bridge
from appservices.framework.cli import main
from appservices.framework.config import load_config
from tests.appservices.stack import bridge_config_data

CRM = {"api_url": "http://127.0.0.1:1/api", "api_token": "t", "webhook_secret": "s" * 16}


def test_generate_registration_writes_matching_tokens_when_config_valid(tmp_path: Path) -> None:
    config_path = tmp_path / "crm.yaml"
    data = bridge_config_data(29333, "http://127.0.0.1:8008", "sqlite:///x.db", crm=CRM)
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    out = tmp_path / "reg.yaml"
    argv = ["--config", str(config_path), "generate-registration", "-o", str(out)]
    assert main("crm_webhook", CrmBridgeConfig, create_bridge, argv) == 0
    registration = yaml.safe_load(out.read_text(encoding="utf-8"))
    config = load_config(CrmBridgeConfig, config_path)
    assert registration["as_token"] == config.appservice.as_token
    assert registration["hs_token"] == config.appservice.hs_token
    assert registration["as_token"] != data["appservice"]["as_token"]
    assert registration["url"] == "http://127.0.0.1:29333"
    assert registration["sender_localpart"] == "testbot"
    assert registration["namespaces"]["users"] == [
        {"exclusive": True, "regex": r"@tb_.*:test\.local"}
    ]


def test_main_reports_every_problem_when_config_invalid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_path = tmp_path / "crm.yaml"
    data = bridge_config_data(29333, "ftp://x", "sqlite:///x.db", crm={**CRM, "extra": 1})
    config_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main("crm_webhook", CrmBridgeConfig, create_bridge, ["--config", str(config_path)]) == 2
    err = capsys.readouterr().err
    assert "homeserver.url" in err
    assert "crm.extra" in err
