"""The fields of an Application Load Balancer access-log entry, by the names AWS's Athena table uses.

An entry is space-separated; text fields are double-quoted. Three tokens of the log hold two or
three columns each (`client:port`, `target:port`, and the request line `"VERB URL PROTO"`), so the
log has fewer tokens (`TOKEN_NAMES`) than the table has columns (`FIELD_NAMES`).
"""

from __future__ import annotations

__all__ = [
    "FIELD_NAMES",
    "MIN_TOKENS",
    "TOKEN_NAMES",
    "Token",
]

#: The tokens of one entry, in log order; AWS appends new ones at the end over time.
TOKEN_NAMES: tuple[str, ...] = (
    "type",
    "time",
    "elb",
    "client",  # client_ip:client_port
    "target",  # target_ip:target_port, or -
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",  # "request_verb request_url request_proto"
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "lambda_error_reason",
    "target_port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
)


class Token:
    """Positions in `TOKEN_NAMES` of the tokens the aggregation reads."""

    TIME = 1
    ELB = 2
    CLIENT = 3
    TARGET = 4
    TARGET_PROCESSING_TIME = 6
    ELB_STATUS = 8
    TARGET_STATUS = 9
    RECEIVED_BYTES = 10
    SENT_BYTES = 11
    REQUEST = 12
    SSL_PROTOCOL = 15
    ACTIONS = 22
    CLASSIFICATION = 27


#: An entry needs at least the tokens up to the request line; older logs end earlier than today's.
MIN_TOKENS = Token.REQUEST + 1

_SPLIT = {
    "client": ("client_ip", "client_port"),
    "target": ("target_ip", "target_port"),
    "request": ("request_verb", "request_url", "request_proto"),
}

#: The Athena table's columns, in order.
FIELD_NAMES: tuple[str, ...] = tuple(
    column for token in TOKEN_NAMES for column in _SPLIT.get(token, (token,))
)
