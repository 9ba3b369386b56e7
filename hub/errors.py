"""The hub's errors: who is at fault decides what happens to a message.

``PartnerError`` subclasses are the partner's fault: the message is rejected
and the partner told why (CONTRL/APERAK). Anything else raised while a
message is processed is our fault: the message fails and is retried.
"""

from __future__ import annotations

__all__ = ["HubError", "PartnerError", "OrderRejected", "UnknownPartner", "ProfileError", "WaitingFor"]


class HubError(Exception):
    """Base of the hub's own errors."""


class PartnerError(HubError):
    """The partner sent something we cannot accept; ``problems`` are sentences for the partner."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


class OrderRejected(PartnerError):
    """An order (or one of its lines) cannot be accepted: unknown item, bad quantity, duplicate number."""


class UnknownPartner(PartnerError):
    """No partner matches the sender's identifier or the channel."""


class ProfileError(HubError):
    """A partner profile file is wrong; the message names the file and the field."""


class WaitingFor(HubError):
    """A message depends on one not processed yet (a cancellation before its order): it waits."""
