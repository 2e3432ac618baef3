"""Validation of the simulators' /_sim/config bodies: each key has a check that returns the value to keep
or raises ConfigError saying what is wrong."""

from collections.abc import Callable
from typing import Any

from filas_simulators.phone_forms import canonical_mobile


class ConfigError(ValueError):
    pass


def mobiles(key: str, value: Any) -> set[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key} must be a list of strings")
    forms = {item: canonical_mobile(item) for item in value}
    bad = [item for item, mobile in forms.items() if mobile is None]
    if bad:
        raise ConfigError(f"{key}: not Brazilian mobile numbers: {bad}")
    return {mobile for mobile in forms.values() if mobile is not None}


def count(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be an integer >= 0")
    return value


def error_status(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 400 <= value <= 599:
        raise ConfigError(f"{key} must be an HTTP error status (400-599)")
    return value


def optional_count(key: str, value: Any) -> int | None:
    return None if value is None else count(key, value)


def flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false")
    return value


def headers(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ConfigError(f"{key} must be an object of header names to string values")
    return dict(value)


def url(key: str, value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.startswith(("http://", "https://"))):
        return value
    raise ConfigError(f"{key} must be an http(s) URL or null")


def validate(body: Any, validators: dict[str, Callable[[str, Any], Any]]) -> dict[str, Any]:
    """The checked values of `body`'s keys; unknown keys are refused."""
    if not isinstance(body, dict):
        raise ConfigError("the body must be a JSON object")
    unknown = sorted(set(body) - set(validators))
    if unknown:
        raise ConfigError(f"unknown keys {unknown}; known: {list(validators)}")
    return {key: validators[key](key, value) for key, value in body.items()}
