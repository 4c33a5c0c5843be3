"""Device credentials for the raw-broker benchmark: tokens derived from a per-run secret, no database.

The embedded broker process imports `derived_credentials` by name (BrokerRunConfig.credentials_factory).
"""

from __future__ import annotations

import hashlib
import hmac

from openiiot.domain.credentials import hash_token
from openiiot.services.ports import DeviceCredential

TENANT = "bench"


def derive_token(secret: str, device_id: str) -> str:
    """The token of a benchmark device: HMAC of its id under the run's secret."""
    return hmac.new(secret.encode(), device_id.encode(), hashlib.sha256).hexdigest()


class DerivedCredentials:
    """A CredentialLookup that knows every `bench-` device of this run."""

    def __init__(self, secret: str) -> None:
        self._secret = secret

    def lookup(self, device_id: str) -> DeviceCredential | None:
        """The credential of a benchmark device, None for anything else."""
        if not device_id.startswith("bench-"):
            return None
        return DeviceCredential(device_id, TENANT, hash_token(derive_token(self._secret, device_id)), False)


def derived_credentials(secret: str) -> DerivedCredentials:
    """Factory named in the broker configuration."""
    return DerivedCredentials(secret)
