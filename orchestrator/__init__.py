"""asr-autoupdate: turn ASR Mobility agent auto-update on or off across a fleet of vaults."""

__version__ = "0.2.0"
