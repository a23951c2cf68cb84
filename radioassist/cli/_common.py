"""Shared pieces of the command-line interface: logging set-up, error handling, progress bars."""
import functools
import logging
import re
import sys
import warnings

import click

from ..exceptions import RadioassistError

__all__ = ["configure_logging", "handle_errors", "progress_enabled", "command_line", "cli_message"]

# the library names keyword arguments, with the command-line option beside them: "size (--size)",
# "pass overwrite=True (--overwrite)", "max_size (--max-size, 1 arcmin)"; a bare "model=" names a keyword whose
# option has the same name
_KEYWORD_AND_OPTION = re.compile(r"\b[a-z][a-z0-9_]*(?:=[A-Za-z0-9_.]*)? \((--[a-z][a-z0-9-]*)(\)|, )")
_BARE_KEYWORD = re.compile(r"\b(model|catalog|task|backend|device|overwrite|resume|preset|gate|hdu|plane|workers|"
                           r"scheduler|output|ra|dec|size_unit)=(?:True\b)?(?=[\s:;,.)]|$)")
_OPTION_NAMES = {"ra": "--ra-col", "dec": "--dec-col", "size_unit": "--size-unit"}

_state = {"verbosity": 0}


def configure_logging(verbosity):
    """Send the ``radioassist`` logger to stderr at a level chosen by ``-v``/``-q``."""
    _state["verbosity"] = verbosity
    level = {-2: logging.ERROR, -1: logging.WARNING, 0: logging.INFO, 1: logging.INFO}.get(
        verbosity, logging.DEBUG if verbosity > 1 else logging.ERROR)
    logger = logging.getLogger("radioassist")
    logger.setLevel(level)
    if not any(getattr(h, "_radioassist_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s" if verbosity > 0 else "%(message)s"))
        handler._radioassist_cli = True
        logger.addHandler(handler)
    if verbosity < -1:
        warnings.simplefilter("ignore")
    logging.captureWarnings(False)


def progress_enabled():
    """Whether progress bars should be shown (not with -q, and only on a terminal)."""
    return _state["verbosity"] >= 0 and sys.stderr.isatty()


def cli_message(text):
    """A library message in the command line's words: options (``--size``), not keyword arguments.

    Parameters
    ----------
    text : str

    Returns
    -------
    str

    Examples
    --------
    >>> cli_message("size (--size) must be positive; pass overwrite=True (--overwrite) or model= (a folder)")
    '--size must be positive; pass --overwrite or --model (a folder)'
    """
    text = _KEYWORD_AND_OPTION.sub(lambda m: m.group(1) + ("" if m.group(2) == ")" else " ("), text)
    return _BARE_KEYWORD.sub(lambda m: _OPTION_NAMES.get(m.group(1), "--" + m.group(1)), text)


def handle_errors(func):
    """Turn expected errors into a one-line ``Error: ...`` message and exit status 1 (2 for usage errors).

    With ``-vv`` the full traceback is shown instead, for bug reports.
    """
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except click.exceptions.ClickException:
            raise
        except (click.exceptions.Abort, click.exceptions.Exit):
            raise
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        except (RadioassistError, FileNotFoundError, PermissionError, IsADirectoryError, ImportError,
                ValueError, OSError) as exc:
            if _state["verbosity"] > 1:
                raise
            message = cli_message(" ".join(str(exc).split())) or type(exc).__name__
            raise click.ClickException(message) from None
        except Exception as exc:  # an unexpected failure: still no traceback unless asked for
            if _state["verbosity"] > 1:
                raise
            raise click.ClickException(f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())} "
                                       "(run with -vv for the full traceback and report it)") from None
    return wrapper


def command_line(ctx):
    """The command as the user gave it: arguments, then the options set on the command line, in order.

    Recorded in model cards so that a model can be made again.
    """
    import shlex

    from click.core import ParameterSource

    parts = ["radioassist", ctx.info_name or ctx.command.name or ""]
    for param in ctx.command.params:
        value = ctx.params.get(param.name)
        if isinstance(param, click.Argument):
            values = value if isinstance(value, (tuple, list)) else [value]
            parts += [shlex.quote(str(v)) for v in values]
            continue
        source = ctx.get_parameter_source(param.name)
        if source not in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT):
            continue
        name = max(param.opts, key=len)
        if param.is_flag:
            if param.secondary_opts and not value:
                parts.append(max(param.secondary_opts, key=len))
            elif value:
                parts.append(name)
        elif getattr(param, "multiple", False):
            for item in value or ():
                parts += [name, shlex.quote(str(item))]
        elif value is not None:
            parts += [name, shlex.quote(str(value))]
    return " ".join(parts)
