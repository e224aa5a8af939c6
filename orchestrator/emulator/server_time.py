"""The server's wall clock, as printed in answers: ARM's timestamp format, and the untidiness of
real servers (a clock skewed against the client's, timestamps without a zone).

Only printed times change: operations, tokens and limits run on the emulator's monotonic clock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from orchestrator.emulator.fleet_spec import FleetSpec


def iso_time(epoch_seconds: float, *, zone: bool = True, whole_seconds: bool = False) -> str:
    """An ARM timestamp: UTC, seven fractional digits, ``Z`` unless ``zone`` is False.

    ``whole_seconds`` prints the fraction as zeros, as ASR prints an operation's ``endTime``
    (which can then read earlier than its ``startTime``).
    """
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    fraction = 0 if whole_seconds else moment.microsecond
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{fraction:06d}0"
    return text + "Z" if zone else text


class ServerTime:
    """Prints wall-clock seconds (already converted from the emulator's clock) as the server."""

    __slots__ = ("skew", "zone")

    def __init__(self, spec: FleetSpec) -> None:
        self.skew = spec.server_time_skew_seconds  # added to every printed time
        self.zone = not spec.timestamps_without_zone

    def __repr__(self) -> str:
        return f"ServerTime(skew={self.skew!r}, zone={self.zone!r})"

    def server_epoch(self, wall: float) -> float:
        """What the server's own clock reads at true wall time ``wall``."""
        return wall + self.skew

    def print(self, wall: float, *, whole_seconds: bool = False) -> str:
        """The server's timestamp for true wall time ``wall``."""
        return iso_time(self.server_epoch(wall), zone=self.zone, whole_seconds=whole_seconds)
