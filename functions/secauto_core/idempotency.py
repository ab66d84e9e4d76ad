"""Process each EventBridge event once, although EventBridge delivers at least once.

`run_once` wraps a processing function with Powertools idempotency on the DynamoDB table the
core stack creates, keyed on the event's `id` (the same for every re-delivery). A re-delivered
event returns the stored result, marked `"duplicate": True`, without running the function
again. Without a configured table (a local run) the function simply runs.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from secauto_core import clients
from secauto_core.observability import MetricUnit, logger, metrics
from secauto_core.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = ["reset_store", "run_once"]

Processor = Callable[[dict[str, Any]], dict[str, Any]]


@lru_cache(maxsize=16)
def _store(table_name: str, key_jmespath: str) -> DynamoDBPersistenceLayer:
    """One persistence layer per table and key path.

    Powertools configures a persistence layer once (its key path included) and keeps that
    configuration: sharing one between processors with different key paths would make a warm
    function read the next event's key with the first event's path.
    """
    # Imported here: the idempotency utility costs cold-start time, and the client must come from
    # our factory (created now, not at import, so tests' moto mocks apply).
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(table_name=table_name, boto3_client=clients.dynamodb())


def reset_store() -> None:
    _store.cache_clear()


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    logger.info(
        "Duplicate delivery: returning the stored result",
        extra={"idempotency_key": idempotent_data.idempotency_key},
    )
    metrics.add_metric(name="DuplicateEventsSkipped", unit=MetricUnit.Count, value=1)
    return {**response, "duplicate": True} if isinstance(response, dict) else response


def run_once(
    process: Processor,
    event: dict[str, Any],
    *,
    name: str | None = None,
    key_jmespath: str = "id",
    context: LambdaContext | None = None,
) -> dict[str, Any]:
    """`process(event)`, or its stored result if an event with the same key was processed.

    `name` (default: the function's qualified name) scopes the records, so two processors
    sharing a table never share a record; callables without a `__qualname__` must pass it.
    """
    scope = name or getattr(process, "__qualname__", None)
    if not scope and not isinstance(process, functools.partial):
        scope = type(process).__qualname__  # a callable object
    if not scope:
        raise TypeError("run_once needs name= for a callable without a __qualname__")
    settings = get_settings()
    if not settings.idempotency_table:
        return process(event)
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

    config = IdempotencyConfig(
        event_key_jmespath=key_jmespath,
        raise_on_no_idempotency_key=True,
        expires_after_seconds=settings.idempotency_ttl_minutes * 60,
        response_hook=_mark_duplicate,
        lambda_context=context,
    )

    def processed_once(event: dict[str, Any]) -> dict[str, Any]:
        return process(event)

    wrapped = idempotent_function(
        processed_once,
        data_keyword_argument="event",
        persistence_store=_store(settings.idempotency_table, key_jmespath),
        config=config,
        key_prefix=f"secauto.{settings.capability}.{scope}",
    )
    result: dict[str, Any] = wrapped(event=event)
    return result
