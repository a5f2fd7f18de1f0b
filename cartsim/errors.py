"""One root error for cartsim; the CLI prints it as one line, the API maps it to an HTTP status."""

from __future__ import annotations


class CartsimError(Exception):
    """Something the user can act on; never shown with a traceback."""


class BrokerError(CartsimError):
    """The embedded broker could not be started or reached."""


class KafkaUnavailableError(CartsimError):
    """A Kafka request failed; keeps the client's error and whether retrying may help."""

    def __init__(self, message: str, cause: BaseException | None = None) -> None:
        super().__init__(" ".join(message.split()))  # client errors carry newlines
        self.cause = cause
        self.retriable = bool(getattr(cause, "retriable", False))
