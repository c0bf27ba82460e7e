"""The registry of remediation actions: what each one does, whether it needs a person's approval, how its target and
parameters are checked, and the errors an action reports.

An action is looked up by its key (``action_get``); rules and attempts store only the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

from apps.common.errors import DomainError, NotFound
from apps.common.logging import SENSITIVE_KEY
from apps.incidents.matchers import TEMPLATE_FIELD, MatcherError, parse_matchers, validate_template

MAX_TARGET = 200
MASK = "********"


class ActionBlocked(DomainError):
    """A safety control refused to let the action run; the message names the control."""

    code = "remediation_blocked"
    status = 409


class ActionFailed(Exception):
    """The action ran, or tried to, and did not succeed. ``details`` go into the attempt's result (never secrets)."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def invalid(field: str, message: str) -> DomainError:
    """A validation error of a target or parameter, naming the field."""
    return DomainError(message, code="remediation_invalid", fields={field: [message]})


class Action:
    """One kind of remediation. Subclasses set the class attributes and implement ``run``."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Actions on databases, data migrations and security settings always wait for a person.
    needs_approval: ClassVar[bool] = False
    target_help: ClassVar[str] = ""

    def validate_target(self, target: str) -> None:
        """Raise a DomainError naming the problem when the (rendered) target is not acceptable."""
        if not target.strip():
            raise invalid("target", "the target is empty (a label of the template may be missing)")
        if len(target) > MAX_TARGET:
            raise invalid("target", f"the target is longer than {MAX_TARGET} characters")

    def validate_params(self, params: Mapping[str, Any]) -> None:
        """Raise a DomainError naming the problem when the parameters are not acceptable."""
        if not isinstance(params, Mapping):
            raise invalid("params", "params must be a JSON object")

    def validate(self, target: str, params: Mapping[str, Any]) -> None:
        """Check the target and the parameters; raises DomainError naming the problem."""
        self.validate_params(params)
        self.validate_target(target)

    def preflight(self, target: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Under the guard lock: read what the limits need, raise ActionBlocked to refuse, return facts for ``run``."""
        return {}

    def run(self, target: str, params: Mapping[str, Any], *, dry_run: bool) -> dict[str, Any]:
        """Do it (or, with ``dry_run``, only describe what would be done); raises ActionFailed."""
        raise NotImplementedError


_ACTIONS: dict[str, Action] = {}
A = TypeVar("A", bound=type[Action])


def register(cls: A) -> A:
    """Class decorator: add an action to the registry under its key."""
    if not cls.key or cls.key in _ACTIONS:
        raise ValueError(f"remediation action key {cls.key!r} is empty or registered twice")
    _ACTIONS[cls.key] = cls()
    return cls


def _load() -> None:
    # The implementations register themselves when their module is imported.
    from apps.incidents.remediation import actions  # noqa: F401


def action_get(key: str) -> Action:
    """The action registered under ``key``; NotFound for an unknown key."""
    _load()
    try:
        return _ACTIONS[key]
    except KeyError:
        raise NotFound(f"no remediation action {key!r}", code="remediation_action_unknown") from None


def action_list() -> list[Action]:
    """Every registered action, by key."""
    _load()
    return [_ACTIONS[key] for key in sorted(_ACTIONS)]


def action_choices() -> list[tuple[str, str]]:
    """(key, label) pairs for forms and the API schema."""
    return [(action.key, f"{action.label} ({action.key})") for action in action_list()]


def rule_definition_validate(*, matchers: str, action: str, target: str, params: Any) -> None:
    """Check a remediation rule before it is saved; raises DomainError with every problem under its field."""
    problems: dict[str, list[str]] = {}
    try:
        parse_matchers(matchers)
    except MatcherError as exc:
        problems["matchers"] = [str(exc)]
    if not matchers.strip():
        problems["matchers"] = ["at least one matcher is needed: a rule matching every incident is too broad"]
    try:
        validate_template(target)
    except MatcherError as exc:
        problems["target"] = [str(exc)]
    try:
        found = action_get(action)
    except NotFound as exc:
        problems["action"] = [exc.detail]
    else:
        try:
            found.validate_params(params)
            # A target without placeholders is final: check it now rather than at the first incident.
            if "target" not in problems and not TEMPLATE_FIELD.search(target):
                found.validate_target(target)
        except DomainError as exc:
            for field, messages in (exc.fields or {"params": [exc.detail]}).items():
                problems.setdefault(field, []).extend(messages)
    if problems:
        first = next(iter(problems.values()))[0]
        raise DomainError(first, code="remediation_rule_invalid", fields=problems)


def params_shown(value: Any, key: str = "") -> Any:
    """Parameters as shown to people: values under secret-looking keys masked, query strings cut from URLs."""
    if key and SENSITIVE_KEY.search(key):
        return MASK
    if isinstance(value, Mapping):
        return {str(k): params_shown(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [params_shown(v) for v in value]
    if isinstance(value, str) and value.startswith(("http://", "https://")) and ("?" in value or "@" in value):
        parts = urlsplit(value)
        return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"
    return value
