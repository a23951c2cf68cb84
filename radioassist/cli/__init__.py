"""The ``radioassist`` command-line interface (click).

Every sub-command lives in its own small module (``_cutout.py``,
``_simulate.py``...) and is wrapped by :func:`handle_errors`, so that bad input
gives a one-line error and a non-zero exit status, never a traceback.
"""
import logging

import click

from ..version import __version__
from ._common import configure_logging

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


def _register():
    from ._classify import classify_command
    from ._cutout import cutout_command
    from ._demo import demo
    from ._evaluate import evaluate_command
    from ._evaluate_general import evaluate_general_command
    from ._finetune import finetune_command
    from ._make_dataset import make_dataset_command
    from ._listing import backends, models, tasks
    from ._report import report_command
    from ._simulate import simulate
    from ._train import train
    commands = [classify_command, cutout_command, simulate, demo, train, evaluate_command,
                evaluate_general_command, make_dataset_command, finetune_command, report_command, backends, tasks,
                models]
    for command in commands:
        main.add_command(command)


_register()
logging.getLogger(__name__).debug("radioassist CLI loaded")
