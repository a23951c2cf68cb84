"""The ``radioassist`` command-line interface (click).

Every sub-command lives in its own small module (``_cutout.py``,
``_simulate.py``...) and is wrapped by :func:`handle_errors`, so that bad input
gives a one-line error and a non-zero exit status, never a traceback.
"""
import importlib
import logging

import click

from ..version import __version__
from ._common import configure_logging

__all__ = ["main"]


#: Sub-command name -> (module, attribute), imported when the command runs or is listed in the help.
_COMMANDS = {
    "classify": ("_classify", "classify_command"),
    "cutout": ("_cutout", "cutout_command"),
    "simulate": ("_simulate", "simulate"),
    "demo": ("_demo", "demo"),
    "train": ("_train", "train"),
    "evaluate": ("_evaluate", "evaluate_command"),
    "evaluate-general": ("_evaluate_general", "evaluate_general_command"),
    "make-dataset": ("_make_dataset", "make_dataset_command"),
    "finetune": ("_finetune", "finetune_command"),
    "report": ("_report", "report_command"),
    "backends": ("_listing", "backends"),
    "tasks": ("_listing", "tasks"),
    "models": ("_listing", "models"),
}


class _LazyGroup(click.Group):
    """A click group whose sub-commands are imported when used (``radioassist classify`` imports only
    the classify module, not those of training or reports)."""

    def list_commands(self, ctx):
        return list(_COMMANDS) + [name for name in super().list_commands(ctx) if name not in _COMMANDS]

    def get_command(self, ctx, cmd_name):
        if cmd_name in _COMMANDS and cmd_name not in self.commands:
            module, attr = _COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f".{module}", __name__), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="radioassist")
@click.option("-v", "--verbose", count=True, help="More output (-v: info, -vv: debug and full tracebacks).")
@click.option("-q", "--quiet", count=True, help="Less output (-q: warnings only, -qq: errors only).")
@click.pass_context
def main(ctx, verbose, quiet):
    """radioassist: cut out, render and classify radio sources in survey mosaics.

    Run a sub-command with --help for its options, e.g. ``radioassist cutout --help``.
    """
    ctx.ensure_object(dict)
    ctx.obj["verbosity"] = verbose - quiet
    configure_logging(verbose - quiet)


logging.getLogger(__name__).debug("radioassist CLI loaded")
