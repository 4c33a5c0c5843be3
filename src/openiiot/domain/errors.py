"""The one error hierarchy of OpenIIoT; adapters translate library errors into these."""

from __future__ import annotations


class OpenIIoTError(Exception):
    """Base of every error the platform raises on purpose."""

    #: stable machine-readable type, used as the RFC 9457 problem `type` suffix
    code = "error"


class NotFound(OpenIIoTError):
    """The object does not exist, or exists in a tenant the caller cannot see."""

    code = "not-found"

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!s} not found")
        self.kind = kind
        self.ident = ident


class Conflict(OpenIIoTError):
    """The object already exists, or its state forbids the change; `field` names the clashing field."""

    code = "conflict"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ValidationFailed(OpenIIoTError):
    """Input is malformed or out of range; `field` names the offending field."""

    code = "validation-failed"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class AuthenticationFailed(OpenIIoTError):
    """Credentials are missing, wrong or expired."""

    code = "authentication-failed"


class PermissionDenied(OpenIIoTError):
    """The caller is authenticated but its role does not allow the action."""

    code = "permission-denied"


class Overloaded(OpenIIoTError):
    """The platform is applying backpressure; the caller should retry later."""

    code = "overloaded"


class ConfigurationError(OpenIIoTError):
    """Settings are invalid or a required service is unreachable at start-up."""

    code = "configuration-error"


class DeliveryFailed(OpenIIoTError):
    """A notification could not be delivered; `retryable` says whether trying again may succeed."""

    code = "delivery-failed"

    def __init__(self, message: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.status_code = status_code
