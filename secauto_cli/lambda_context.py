"""A Lambda context object for invoking handlers in-process."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

__all__ = ["LocalLambdaContext"]


@dataclass
class LocalLambdaContext:
    function_name: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = ""
    log_stream_name: str = ""
    timeout_seconds: int = 60

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_seconds * 1000
