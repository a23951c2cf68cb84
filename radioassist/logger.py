"""The package logger.

radioassist logs to ``logging.getLogger('radioassist')`` and never installs
handlers itself; the command-line interface configures output (``-v``/``-q``).
"""
import logging

__all__ = ["log"]

log = logging.getLogger("radioassist")
