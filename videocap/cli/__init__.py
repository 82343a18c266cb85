"""The ``videocap`` command line: each command parses its flags, builds settings, makes one library call
(``videocap.pipeline``) and prints. One module per command group; ``main`` is the console script.

Exit codes: 0 ok, 2 bad input or usage (one line on stderr), 1 any other failure, 130 interrupted (SIGINT),
143 terminated (SIGTERM); both signals clean up alike (``videocap.errors.Terminated``).
``--debug`` shows the traceback instead of the one-line message. Heavy modules (torch, ultralytics)
are imported only inside the commands that need them, so that bad input is reported at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings

import click

from videocap.cli import (  # noqa: F401 - they add the commands
    eval_commands,
    photo_commands,
    remake_commands,
    serve_commands,
    train_commands,
    video_commands,
)
from videocap.cli.group import cli
from videocap.errors import Terminated, UserError, VideoNote


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    in_main_thread = threading.current_thread() is threading.main_thread()  # where Python allows handlers
    previous = signal.signal(signal.SIGTERM, _terminated) if in_main_thread else None
    shown = warnings.showwarning
    if not debug:
        warnings.showwarning = _one_line_warnings(quiet="--quiet" in args)
    try:
        code = cli.main(args=args, prog_name="videocap", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("videocap: interrupted", err=True)
        return 130
    except Terminated:
        click.echo("videocap: terminated", err=True)
        return 143
    except click.ClickException as exc:  # usage errors: bad option, missing argument
        if debug:
            raise
        exc.show()
        return 2
    except UserError as exc:
        if debug:
            raise
        click.echo(f"videocap: error: {exc}", err=True)
        return 2
    except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
        if debug:
            raise
        click.echo(f"videocap: failed: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        return 1
    finally:
        warnings.showwarning = shown
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0  # a command's ctx.exit(code)


def _one_line_warnings(quiet: bool):
    """Warnings as one line each, without the source line Python prints: videocap's notes always, other
    libraries' warnings unless ``--quiet`` (``--debug`` shows them as Python does)."""
    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = " ".join(str(message).split())
        if issubclass(category, VideoNote):
            click.echo(f"videocap: note: {text}", err=True)
        elif not quiet:
            click.echo(f"videocap: warning: {text}", err=True)
    return show


def _terminated(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up: a second SIGTERM must not cut it short
    raise Terminated()
