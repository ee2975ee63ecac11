"""Domain errors. Each maps to one HTTP answer, so callers never see a stack trace."""

from __future__ import annotations


class VitrineError(Exception):
    """Base class: carries a message fit to show a user or an operator."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(VitrineError):
    """The caller sent something we refuse (not an image, too big, a bad box...)."""

    status_code = 400


class TooLarge(BadInput):
    """The payload exceeds a size or pixel limit."""

    status_code = 413


class NotFound(VitrineError):
    """A product, image or object that does not exist."""

    status_code = 404


class Unavailable(VitrineError):
    """A model endpoint, index or store failed or timed out; the caller may retry."""

    status_code = 503

    def __init__(self, message: str, retry_after_s: int = 5) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class ConfigError(VitrineError):
    """A missing or invalid setting; the message names the setting in one line."""


class UnsupportedType(BadInput):
    """The payload is not one of the image types we accept (JPEG, PNG, WebP)."""

    status_code = 415
