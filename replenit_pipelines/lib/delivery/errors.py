"""Errors of the delivery stage. None of them ever holds the API key."""


class DeliveryConfigError(ValueError):
    """The client's configuration cannot work; the message says what to change."""


class ReplenitStopError(RuntimeError):
    """The API refused the credentials or the tenant: no request after this one can succeed."""

    status: int = 0


class UnauthorizedError(ReplenitStopError):
    status = 401


class ForbiddenError(ReplenitStopError):
    status = 403


class TenantNotFoundError(ReplenitStopError):
    status = 404
