"""Layer precedence and provenance: defaults < file < secret file < environment < admin override."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from apps.configuration.layers import DefaultsLayer, EnvLayer, FileLayer, OverrideLayer, SecretFilesLayer
from apps.configuration.models import ConfigEntry
from apps.configuration.selectors import config_explain
from apps.configuration.services import config_get
from apps.configuration.store import ConfigurationError

KEY = "remediation.cooldown_minutes"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "production.toml"
    path.write_text("[remediation]\ncooldown_minutes = 20\n")
    return path


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    return directory


def stack(config_file: Path, secrets_dir: Path, environ: dict[str, str]) -> list:
    return [
        DefaultsLayer(),
        FileLayer([config_file]),
        SecretFilesLayer(secrets_dir),
        EnvLayer(environ),
        OverrideLayer(),
    ]


@pytest.mark.django_db
def test_each_layer_overrides_the_one_below_and_explain_names_the_winner(
    use_config_store, config_file: Path, secrets_dir: Path
) -> None:
    environ: dict[str, str] = {}
    store = use_config_store(stack(config_file, secrets_dir, environ))
    assert config_get(KEY) == 20
    assert config_explain(KEY).layer == "file"
    assert config_explain(KEY).origin == "production.toml: remediation.cooldown_minutes"

    (secrets_dir / "remediation.cooldown_minutes").write_text("25\n")
    store.invalidate()
    assert config_get(KEY) == 25
    assert config_explain(KEY).origin == f"secret file {secrets_dir / 'remediation.cooldown_minutes'}"

    environ["ECAP_REMEDIATION__COOLDOWN_MINUTES"] = "30"
    store.invalidate()
    assert config_get(KEY) == 30
    assert config_explain(KEY).origin == "env ECAP_REMEDIATION__COOLDOWN_MINUTES"

    ConfigEntry.objects.update_or_create(key=KEY, defaults={"override": 35})
    store.invalidate()
    assert config_get(KEY) == 35
    explanation = config_explain(KEY)
    assert explanation.layer == "override"
    assert [(r.layer, r.present, r.display, r.wins) for r in explanation.layers] == [
        ("default", True, "10", False),
        ("file", True, "20", False),
        ("secret_file", True, "25", False),
        ("env", True, "30", False),
        ("override", True, "35", True),
    ]


@pytest.mark.django_db
def test_config_explain_command_shows_every_layer_and_the_winner(
    use_config_store, config_file: Path, secrets_dir: Path
) -> None:
    use_config_store(stack(config_file, secrets_dir, {"ECAP_REMEDIATION__COOLDOWN_MINUTES": "30"}))
    out = io.StringIO()
    call_command("config_explain", KEY, stdout=out)
    text = out.getvalue()
    assert "effective value: 30  (from env)" in text
    assert "=> env          30  ← env ECAP_REMEDIATION__COOLDOWN_MINUTES" in text
    assert "   file         20  ← production.toml: remediation.cooldown_minutes" in text


def test_config_explain_command_names_close_matches_for_unknown_keys() -> None:
    with pytest.raises(CommandError, match=r"did you mean remediation\.cooldown_minutes"):
        call_command("config_explain", "remediation.cooldown_minute")


@pytest.mark.django_db
def test_secrets_are_masked_in_explanations(use_config_store) -> None:
    key = Fernet.generate_key().decode()
    use_config_store([DefaultsLayer(), EnvLayer({"ECAP_SECRETS__FERNET_KEYS": key})])
    explanation = config_explain("secrets.fernet_keys")
    assert explanation.display == "********"
    assert key not in repr(explanation)
    assert config_get("secrets.fernet_keys") == [key]


@pytest.mark.django_db
def test_invalid_value_fails_at_start_up_naming_key_layer_and_reason(use_config_store) -> None:
    store = use_config_store([DefaultsLayer(), EnvLayer({"ECAP_REMEDIATION__COOLDOWN_MINUTES": "soon"})])
    with pytest.raises(ConfigurationError, match=r"remediation.cooldown_minutes in layer env: expected a whole number"):
        store.validate_static()


@pytest.mark.django_db
def test_secret_in_a_config_file_is_refused(use_config_store, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[secrets]\nfernet_keys = ["x"]\n')
    store = use_config_store([DefaultsLayer(), FileLayer([path])])
    with pytest.raises(ConfigurationError, match="secret keys must not be in a config file"):
        store.validate_static()


@pytest.mark.django_db
def test_unknown_keys_in_files_environment_and_secret_files_are_reported(
    use_config_store, tmp_path: Path, secrets_dir: Path
) -> None:
    path = tmp_path / "typo.toml"
    path.write_text("[remediation]\ncooldown_minute = 5\n")
    (secrets_dir / "app.banner").write_text("x")
    (secrets_dir / "..data").mkdir()  # Kubernetes' own bookkeeping is ignored
    store = use_config_store([FileLayer([path]), SecretFilesLayer(secrets_dir), EnvLayer({"ECAP_API__RATE": "1"})])
    store.validate_static()
    assert sorted(store.unknown_keys()) == sorted(
        ["typo.toml: remediation.cooldown_minute", f"secret file {secrets_dir / 'app.banner'}", "env ECAP_API__RATE"]
    )


@pytest.mark.django_db
def test_unknown_keys_are_a_system_check_warning(use_config_store) -> None:
    from apps.configuration.checks import unknown_config_keys_check

    use_config_store([DefaultsLayer(), EnvLayer({"ECAP_APP__MAINTENANCE_BANER": "typo"})])
    warnings = unknown_config_keys_check(None)
    assert [w.id for w in warnings] == ["configuration.W001"]
    assert "ECAP_APP__MAINTENANCE_BANER" in warnings[0].msg


@pytest.mark.django_db
def test_an_invalid_value_at_run_time_never_wins_and_is_explained(use_config_store) -> None:
    use_config_store([DefaultsLayer(), OverrideLayer()])
    ConfigEntry.objects.update_or_create(key=KEY, defaults={"override": "later"})
    assert config_get(KEY) == 10
    override = next(r for r in config_explain(KEY).layers if r.layer == "override")
    assert override.error == "expected a whole number, got 'later'"
    assert not override.wins


def test_the_project_config_files_hold_only_declared_valid_keys() -> None:
    root = Path(__file__).resolve().parents[2] / "config"
    for path in sorted(root.glob("*.toml")):
        layer = FileLayer([path])
        from apps.configuration.registry import registry

        result = layer.load(registry())
        assert result.unknown == [], path
        assert result.problems == [], path
        for key, value in result.values.items():
            registry()[key].parse(value.raw)
