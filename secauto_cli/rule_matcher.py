"""Match events against secauto's EventBridge patterns with AWS's matching semantics.

secauto has no matcher of its own. This module is a thin typed wrapper around LocalStack's
pure-Python EventBridge engine (`localstack.services.events.event_rule_engine`), which implements
AWS's semantics, including the ones moto's matcher gets wrong (arrays of objects, `exists`,
`anything-but`). The engine is a development dependency (`localstack-core`), used by the tests and
by local replay; Lambda code never imports this module.

Importing the engine takes about 0.7 s (it pulls in LocalStack's generated API models), so it is
imported on first use, not when this module is imported.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from secauto_infra.rule_catalog import RuleSpec

__all__ = ["InvalidPatternError", "matching_rules", "pattern_matches", "validate_pattern"]


class InvalidPatternError(ValueError):
    """An event pattern that EventBridge would reject (the engine cannot compile it)."""

    def __init__(self, message: str, *, rule_name: str | None = None) -> None:
        super().__init__(f"{rule_name}: {message}" if rule_name else message)
        self.rule_name = rule_name


class _Compiler(Protocol):
    def compile_event_pattern(self, event_pattern: dict[str, Any]) -> dict[str, Any]: ...


class _Engine(Protocol):
    def evaluate_pattern_on_event(
        self, compiled_event_pattern: dict[str, Any], event: dict[str, Any]
    ) -> Any: ...


@functools.cache
def _engine() -> tuple[_Compiler, _Engine, type[Exception]]:
    """LocalStack's compiler, engine and pattern exception, imported once on first use."""
    from localstack.aws.api.events import InvalidEventPatternException
    from localstack.services.events.event_rule_engine import EventPatternCompiler, EventRuleEngine

    compiler: _Compiler = EventPatternCompiler()  # type: ignore[no-untyped-call]  # untyped __init__
    pattern_error: type[Exception] = InvalidEventPatternException
    return compiler, EventRuleEngine(), pattern_error


def _canonical(pattern: Mapping[str, Any]) -> str:
    """The pattern as canonical JSON: the cache key, and a check that it is plain JSON."""
    if not isinstance(pattern, dict) or not pattern:
        raise InvalidPatternError("an event pattern must be a non-empty JSON object")
    try:
        return json.dumps(pattern, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidPatternError(f"an event pattern must be plain JSON: {exc}") from exc


@functools.lru_cache(maxsize=1024)
def _compile(canonical: str) -> dict[str, Any]:
    """Compile a pattern once. It is parsed from its canonical JSON, so the cached copy is private
    and later changes to the caller's dict cannot alter it. Failures are not cached."""
    compiler, _, pattern_error = _engine()
    try:
        return compiler.compile_event_pattern(json.loads(canonical))
    except pattern_error as exc:
        raise InvalidPatternError(str(exc)) from exc
    except (AttributeError, IndexError, KeyError, TypeError) as exc:
        # Shapes the compiler does not anticipate (e.g. a scalar inside "$or") crash it; AWS
        # rejects them, so they are invalid patterns too.
        raise InvalidPatternError(f"malformed pattern ({type(exc).__name__}: {exc})") from exc


def _evaluate(compiled: dict[str, Any], event: Mapping[str, Any]) -> bool:
    _, engine, _ = _engine()
    # The engine walks `dict`s only: a top-level Mapping of another type would be taken as a leaf.
    return bool(engine.evaluate_pattern_on_event(compiled, dict(event)))


def validate_pattern(pattern: Mapping[str, Any]) -> None:
    """Raise `InvalidPatternError` unless EventBridge would accept `pattern`."""
    _compile(_canonical(pattern))


def pattern_matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver `event` (a full event envelope) to a rule with `pattern`."""
    return _evaluate(_compile(_canonical(pattern)), event)


def matching_rules(event: Mapping[str, Any], rules: Iterable[RuleSpec]) -> list[RuleSpec]:
    """The rules, in the order given, whose pattern matches `event`."""
    matched = []
    for spec in rules:
        try:
            compiled = _compile(_canonical(spec.pattern))
        except InvalidPatternError as exc:
            raise InvalidPatternError(str(exc), rule_name=spec.name) from exc
        if _evaluate(compiled, event):
            matched.append(spec)
    return matched
