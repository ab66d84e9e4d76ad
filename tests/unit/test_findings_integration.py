"""Integration modes: import, native, auto (ListEnabledProductsForImport, cached).

moto does not implement ListEnabledProductsForImport, so `auto` is tested with botocore's
Stubber on a real client; the cache in the state table is real (moto DynamoDB).
"""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from findings.integration import IntegrationResolver
from findings.settings import FindingSource, IntegrationMode
from secauto_cli.embedded_account import embedded_account
from secauto_core import clients

SUBSCRIPTION = "arn:aws:securityhub:us-east-1:123456789012:product-subscription/{}"


@pytest.mark.parametrize(
    ("mode", "expected"), [(IntegrationMode.IMPORT, True), (IntegrationMode.NATIVE, False)]
)
def test_fixed_modes_ask_nobody(mode, expected):
    resolver = IntegrationResolver(mode, None, 60)
    assert all(resolver.imports(source) is expected for source in FindingSource)


def stubbed_securityhub(*pages):
    client = boto3.client("securityhub", region_name="us-east-1")
    stubber = Stubber(client)
    for products in pages:
        stubber.add_response("list_enabled_products_for_import", {"ProductSubscriptions": list(products)})
    stubber.activate()
    return client, stubber


def test_auto_imports_only_sources_without_a_native_integration(monkeypatch):
    with embedded_account() as account:
        client, stubber = stubbed_securityhub(
            [SUBSCRIPTION.format("aws/guardduty"), SUBSCRIPTION.format("aws/macie")]
        )
        monkeypatch.setattr(clients, "securityhub", lambda region_name=None: client)
        resolver = IntegrationResolver(IntegrationMode.AUTO, account.state_table, 60)
        assert resolver.imports(FindingSource.GUARDDUTY) is False
        assert resolver.imports(FindingSource.MACIE) is False
        assert resolver.imports(FindingSource.INSPECTOR) is True
        stubber.assert_no_pending_responses()  # asked once, then from memory

        # A new process (cold start) reads the answer from the state table, not from Security Hub.
        fresh = IntegrationResolver(IntegrationMode.AUTO, account.state_table, 60)
        assert fresh.imports(FindingSource.GUARDDUTY) is False


def test_auto_asks_again_when_the_cache_expired(monkeypatch):
    with embedded_account() as account:
        client, stubber = stubbed_securityhub([SUBSCRIPTION.format("aws/guardduty")], [])
        monkeypatch.setattr(clients, "securityhub", lambda region_name=None: client)
        now = [1_000_000.0]
        monkeypatch.setattr("findings.integration.time.time", lambda: now[0])
        resolver = IntegrationResolver(IntegrationMode.AUTO, account.state_table, 1)
        assert resolver.imports(FindingSource.GUARDDUTY) is False
        now[0] += 61
        fresh = IntegrationResolver(IntegrationMode.AUTO, account.state_table, 1)
        assert fresh.imports(FindingSource.GUARDDUTY) is True  # the integration was turned off
        stubber.assert_no_pending_responses()
