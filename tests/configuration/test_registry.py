"""Key declarations: typed parsing, validation with reasons, and helpful errors for unknown keys."""

from __future__ import annotations

import pytest

from apps.configuration.registry import ConfigKey, ConfigValueError, declare, get_key, registry


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("int", "42", 42),
        ("int", 7, 7),
        ("float", "0.5", 0.5),
        ("bool", "yes", True),
        ("bool", "0", False),
        ("bool", True, True),
        ("list", "a, b,,c", ["a", "b", "c"]),
        ("list", '["x", "y"]', ["x", "y"]),
        ("list", ["p"], ["p"]),
        ("json", '{"a": 1}', {"a": 1}),
        ("str", 12, "12"),
    ],
)
def test_raw_values_become_typed_values(type_: str, raw: object, expected: object) -> None:
    assert ConfigKey("t.key", type_, None, "test").parse(raw) == expected


@pytest.mark.parametrize(
    ("spec", "raw", "reason"),
    [
        (ConfigKey("t.n", "int", None, "", min_value=1, max_value=5), "9", "above the maximum 5"),
        (ConfigKey("t.n", "int", None, "", min_value=1), "0", "below the minimum 1"),
        (ConfigKey("t.n", "int", None, ""), "ten", "expected a whole number"),
        (ConfigKey("t.n", "int", None, ""), True, "got a boolean"),
        (ConfigKey("t.b", "bool", None, ""), "maybe", "expected true or false"),
        (ConfigKey("t.c", "str", None, "", choices=("local", "emr")), "k8s", "is not one of 'local', 'emr'"),
        (ConfigKey("t.p", "str", None, "", pattern=r"\d+/min"), "fast", "does not match"),
        (ConfigKey("t.j", "json", None, ""), "{oops", "invalid JSON"),
    ],
)
def test_invalid_values_are_refused_with_the_reason(spec: ConfigKey, raw: object, reason: str) -> None:
    with pytest.raises(ConfigValueError, match=reason):
        spec.parse(raw)


def test_secret_values_are_masked_for_display_and_in_pattern_errors() -> None:
    spec = ConfigKey("t.secret", "str", None, "", secret=True, pattern=r"[a-f0-9]{8}")
    assert spec.display("hunter2") == "********"
    with pytest.raises(ConfigValueError) as excinfo:
        spec.parse("hunter2")
    assert "hunter2" not in str(excinfo.value)


def test_a_bad_default_or_name_is_a_programming_error() -> None:
    with pytest.raises(ConfigValueError, match="whole number"):
        ConfigKey("t.n", "int", "many", "")
    with pytest.raises(ValueError, match="dotted lower-case"):
        ConfigKey("NoDots", "str", None, "")


def test_a_key_cannot_be_declared_twice() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare("api.throttle_user_rate", "str", "1/min", "again")


def test_unknown_keys_name_close_matches() -> None:
    with pytest.raises(KeyError, match=r"did you mean api\.throttle_user_rate"):
        get_key("api.throttle_usr_rate")


def test_every_declared_key_has_a_description_and_a_valid_default() -> None:
    for key, spec in registry().items():
        assert spec.description, key
        if spec.default is not None:
            assert spec.parse(spec.default) is not None
