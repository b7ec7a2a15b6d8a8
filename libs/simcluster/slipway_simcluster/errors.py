"""Kubernetes `Status` errors raised by the simulated cluster's registry and API layer."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the simulated API server answers with a Kubernetes `Status` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """The error as a `v1.Status` object, exactly as a real API server writes it."""
        return status_object(self.code, self.reason, self.message, self.details)


def status_object(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Build a failure `v1.Status` object."""
    status: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        status["details"] = details
    return status


def success_status(details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the `v1.Status` a real API server returns for a successful delete."""
    status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}}
    status["status"] = "Success"
    if details:
        status["details"] = details
    return status


def _details(name: str | None, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {"kind": kind}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    return details


def not_found(resource: str, group: str, name: str) -> ApiError:
    """`404 NotFound` for a named object, e.g. `deployments.apps "web" not found`."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        404,
        "NotFound",
        f'{qualified} "{name}" not found',
        details=_details(name, group, resource),
    )


def already_exists(resource: str, group: str, name: str) -> ApiError:
    """`409 AlreadyExists` for a create whose name is taken."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        "AlreadyExists",
        f'{qualified} "{name}" already exists',
        details=_details(name, group, resource),
    )


def conflict(resource: str, group: str, name: str) -> ApiError:
    """`409 Conflict` for a write made against a stale resourceVersion."""
    qualified = f"{resource}.{group}" if group else resource
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        details=_details(name, group, resource),
    )


def bad_request(message: str) -> ApiError:
    """`400 BadRequest`."""
    return ApiError(400, "BadRequest", message)


def forbidden(message: str) -> ApiError:
    """`403 Forbidden`."""
    return ApiError(403, "Forbidden", message)


def method_not_allowed(
    message: str = "the server does not allow this method on the requested resource",
) -> ApiError:
    """`405 MethodNotAllowed`."""
    return ApiError(405, "MethodNotAllowed", message)


def unsupported_media_type(content_type: str) -> ApiError:
    """`415 UnsupportedMediaType`."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/merge-patch+json, application/strategic-merge-patch+json, "
        f'application/json-patch+json, application/apply-patch+yaml (got "{content_type}")',
    )


def unauthorized() -> ApiError:
    """`401 Unauthorized`, the answer to a missing or wrong bearer token."""
    return ApiError(401, "Unauthorized", "Unauthorized")


def gone(message: str) -> ApiError:
    """`410 Gone`, the answer to a watch from a resourceVersion the history no longer holds."""
    return ApiError(410, "Expired", message)


class FieldError:
    """One field-level validation failure (a `StatusCause`)."""

    def __init__(self, field: str, message: str, reason: str = "FieldValueInvalid") -> None:
        self.field = field
        self.message = message
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    """`422 Invalid` listing every failing field, as a real API server does."""
    qualified = f"{kind}.{group}" if group else kind
    joined = ", ".join(str(error) for error in errors)
    message = f'{qualified} "{name}" is invalid: '
    message += joined if len(errors) == 1 else f"[{joined}]"
    details = _details(name, group, kind)
    details["causes"] = [
        {"reason": error.reason, "message": error.message, "field": error.field} for error in errors
    ]
    return ApiError(422, "Invalid", message, details=details)
