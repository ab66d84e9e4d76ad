"""Lazy, injectable AWS SDK clients with standard AWS retry behaviour.

Clients are created on first use and cached per (service, Region), never at import time, so a
client cannot be made before a test's `mock_aws()` starts. `reset_clients()` drops the cache
(tests call it around each moto context); `set_session()` injects another session.
`add_call_observer()` lets tests and the local replay record every API call a handler makes.

The clients are boto3's own client classes, made from a botocore session: `import boto3` also
loads s3transfer for S3 transfer helpers we never use. botocore itself is imported on the first
client request, not with this module: benchmarks/cold_start.py reports import time and the time
to a ready first invocation separately.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_sns import SNSClient

__all__ = [
    "RETRY_SETTINGS",
    "add_call_observer",
    "client",
    "client_for_role",
    "current_region",
    "dynamodb",
    "remove_call_observer",
    "reset_clients",
    "secretsmanager",
    "securityhub",
    "set_session",
    "sns",
]

#: Adaptive mode = standard retries (throttling and transient errors, exponential backoff with
#: jitter) plus client-side rate limiting once the service starts throttling.
RETRY_SETTINGS: dict[str, Any] = {
    "retries": {"mode": "adaptive", "max_attempts": 8},
    "connect_timeout": 5,
    "read_timeout": 20,
}

#: Called with ("iam-prefix:Operation", api_params) for every API call any of our clients makes.
CallObserver = Callable[[str, dict[str, Any]], None]

#: Services whose SigV4 signing name is not their IAM action prefix.
_IAM_PREFIX_BY_SIGNING_NAME = {"monitoring": "cloudwatch", "email": "ses"}

_lock = threading.Lock()
_session: botocore.session.Session | None = None
_cache: dict[tuple[str, str | None], Any] = {}
_observers: list[CallObserver] = []
_config: Config | None = None
#: (service, Region, role ARN) -> (client, when its credentials expire, epoch seconds)
_role_clients: dict[tuple[str, str | None, str], tuple[Any, float]] = {}
#: Assumed-role credentials are renewed this long before they expire.
_RENEW_BEFORE_SECONDS = 300


def _retry_config() -> Config:
    global _config
    if _config is None:
        from botocore.config import Config

        _config = Config(**RETRY_SETTINGS)
    return _config


def _default_session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.get_session()


def set_session(session: botocore.session.Session | None) -> None:
    """Use `session` for clients made from now on (None: a fresh default session)."""
    global _session
    with _lock:
        _session = session
        _cache.clear()


def reset_clients() -> None:
    """Forget every cached client; the next call creates fresh ones."""
    with _lock:
        _cache.clear()
        _role_clients.clear()


def add_call_observer(observer: CallObserver) -> None:
    _observers.append(observer)


def remove_call_observer(observer: CallObserver) -> None:
    if observer in _observers:
        _observers.remove(observer)


def _notify_observers(model: Any, params: dict[str, Any], **_: Any) -> None:
    if not _observers:
        return
    signing_name = model.service_model.signing_name
    prefix = _IAM_PREFIX_BY_SIGNING_NAME.get(signing_name, signing_name)
    for observer in list(_observers):
        observer(f"{prefix}:{model.name}", params)


def current_region() -> str:
    """The Region this process runs in (AWS_REGION in Lambda)."""
    session = _session or _default_session()
    return str(session.get_config_variable("region") or "us-east-1")


def client(service_name: str, region_name: str | None = None) -> Any:
    """A cached client for `service_name` in `region_name` (default: the session's Region)."""
    key = (service_name, region_name)
    cached = _cache.get(key)
    if cached is not None:
        return cached
    with _lock:
        cached = _cache.get(key)
        if cached is None:
            session = _session or _default_session()
            cached = session.create_client(service_name, region_name=region_name, config=_retry_config())
            cached.meta.events.register("before-parameter-build", _notify_observers)
            _cache[key] = cached
    return cached


def client_for_role(service_name: str, role_arn: str, region_name: str | None = None) -> Any:
    """A client acting as `role_arn` (sts:AssumeRole), renewed before its credentials expire."""
    key = (service_name, region_name, role_arn)
    cached = _role_clients.get(key)
    if cached is not None and cached[1] - _RENEW_BEFORE_SECONDS > time.time():
        return cached[0]
    credentials = client("sts", region_name).assume_role(RoleArn=role_arn, RoleSessionName="secauto")[
        "Credentials"
    ]
    session = _session or _default_session()
    made = session.create_client(
        service_name,
        region_name=region_name,
        config=_retry_config(),
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
    )
    made.meta.events.register("before-parameter-build", _notify_observers)
    _role_clients[key] = (made, credentials["Expiration"].timestamp())
    return made


def sns(region_name: str | None = None) -> SNSClient:
    return client("sns", region_name)  # type: ignore[no-any-return]


def securityhub(region_name: str | None = None) -> SecurityHubClient:
    return client("securityhub", region_name)  # type: ignore[no-any-return]


def secretsmanager(region_name: str | None = None) -> SecretsManagerClient:
    return client("secretsmanager", region_name)  # type: ignore[no-any-return]


def dynamodb(region_name: str | None = None) -> DynamoDBClient:
    return client("dynamodb", region_name)  # type: ignore[no-any-return]
