"""Which sources secauto imports into Security Hub, so no finding is ever there twice.

`import`: always; `native`: never (AWS's own integration imports them); `auto`: import a
source only if Security Hub does not already receive it from AWS's integration. The answer of
`ListEnabledProductsForImport` is cached in memory and in the state table for
`product_cache_minutes`, so a busy function asks Security Hub rarely.
"""

from __future__ import annotations

import json
import time
from typing import Any

from findings.settings import FindingSource, IntegrationMode
from secauto_core import clients
from secauto_core.observability import logger

__all__ = ["NATIVE_PRODUCTS", "IntegrationResolver"]

#: The product AWS's own integration imports each source's findings under (`aws/<name>`).
NATIVE_PRODUCTS = {
    FindingSource.GUARDDUTY: "aws/guardduty",
    FindingSource.MACIE: "aws/macie",
    FindingSource.INSPECTOR: "aws/inspector",
}
_CACHE_KEY = {"pk": {"S": "findings#native-integrations"}, "sk": {"S": "products"}}


class IntegrationResolver:
    def __init__(self, mode: IntegrationMode, table_name: str | None, cache_minutes: int) -> None:
        self._mode = mode
        self._table = table_name
        self._cache_seconds = cache_minutes * 60
        self._products: frozenset[str] | None = None
        self._expires = 0.0

    def imports(self, source: FindingSource) -> bool:
        """True when secauto should import `source`'s findings itself."""
        if self._mode is IntegrationMode.IMPORT:
            return True
        if self._mode is IntegrationMode.NATIVE:
            return False
        return NATIVE_PRODUCTS[source] not in self._native_products()

    def _native_products(self) -> frozenset[str]:
        now = time.time()
        if self._products is not None and now < self._expires:
            return self._products
        cached = self._read_cache(now)
        if cached is None:
            cached = self._ask_security_hub()
            self._write_cache(cached, now)
            logger.info("Native Security Hub integrations", extra={"products": sorted(cached)})
        self._products, self._expires = cached, now + self._cache_seconds
        return cached

    @staticmethod
    def _ask_security_hub() -> frozenset[str]:
        products = set()
        paginator = clients.securityhub().get_paginator("list_enabled_products_for_import")
        for page in paginator.paginate():
            for arn in page.get("ProductSubscriptions", []):
                # arn:aws:securityhub:<region>:<account>:product-subscription/aws/guardduty
                _, _, path = arn.partition(":product-subscription/")
                if path:
                    products.add(path)
        return frozenset(products)

    def _read_cache(self, now: float) -> frozenset[str] | None:
        if not self._table:
            return None
        item: dict[str, Any] = (
            clients.dynamodb().get_item(TableName=self._table, Key=_CACHE_KEY).get("Item") or {}
        )
        if not item or float(item["expires"]["N"]) <= now:
            return None
        return frozenset(json.loads(item["products"]["S"]))

    def _write_cache(self, products: frozenset[str], now: float) -> None:
        if not self._table:
            return
        expires = now + self._cache_seconds
        clients.dynamodb().update_item(
            TableName=self._table,
            Key=_CACHE_KEY,
            UpdateExpression="SET products = :p, expires = :e, #ttl = :t",
            ExpressionAttributeNames={"#ttl": "ttl"},
            ExpressionAttributeValues={
                ":p": {"S": json.dumps(sorted(products))},
                ":e": {"N": str(expires)},
                ":t": {"N": str(int(expires) + 86400)},
            },
        )
