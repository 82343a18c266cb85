"""An output folder that always holds one complete set of outputs: a lock, a staging folder per run, and a
move into place that the next run finishes when it was cut short.

A run (``output_run(out)``):

1. takes the folder's lock, ``OUT/.videocap.lock`` (``fcntl.flock``; the file names the holder's pid, start
   time, host and run id). A second run into the same folder stops at once with one line naming the
   holder. The kernel drops the lock of a process that died in any way (SIGKILL too), so a lock file
   left behind is simply taken over;
2. finishes or removes what an earlier, killed run left (see 4.): a staging folder without a commit
   list is removed, one with a commit list is moved into place as that run would have;
3. writes every output into its own staging folder, ``OUT/.videocap-staging-<run id>/``; nothing in OUT
   changes meanwhile, and an interrupted or failed run removes its staging folder and leaves OUT as it was;
4. when every output is complete, writes the commit list (``commit.json``: the names to move, in order,
   and the previous set's files that the new set no longer has) and moves the files into place with
   ``os.replace``, SIGINT and SIGTERM held back meanwhile, the file naming the set (``captions.json``)
   last, then removes the previous set's leftovers and the staging folder, and records the names it put in
   place in ``OUT/.videocap-files.json`` (the folder's ledger).

Several files cannot be replaced in one atomic step; the order makes the folder read as one set: the
naming file (``captions.json``, with its run id) changes last, and every video records the run id that
made it (``comment=videocap-run:<id>`` in its metadata), so a reader can always tell which files belong
to the set that ``captions.json`` names. Only a SIGKILL (or a power cut) in the milliseconds of the moves
can leave the new videos beside the old ``captions.json``; their run ids disagree, and the next videocap
run in the folder finishes the moves from the commit list. Files are removed only when they are named
by the previous set's own manifest (the ``outputs`` of its ``captions.json``): never anything else. A file
is replaced only when videocap wrote it: named by the ledger or by that manifest (``check_free``); any other
file of an output's name stops the run before its work, with one line naming it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from videocap.errors import UserError
from videocap.io.files import ensure_writable_dir, write_json

LOCK_FILE = ".videocap.lock"
STAGING_PREFIX = ".videocap-staging-"
COMMIT_FILE = "commit.json"
LEDGER_FILE = ".videocap-files.json"


def new_run_id() -> str:
    """A run's id: its start time (UTC) and a random part, e.g. ``20261201T095012Z-3f9a1c``."""
    return f"{datetime.datetime.now(datetime.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def is_plain_name(name: object, suffixes: tuple[str, ...]) -> bool:
    """A file name directly inside the folder (no path, no hidden file) of one of the kinds ``suffixes`` (what
    the outputs registry says videocap writes): the only names a manifest or a commit list may hold."""
    return isinstance(name, str) and "/" not in name and "\\" not in name and not name.startswith(".") \
        and name.lower().endswith(suffixes)


class FolderLock:
    """The exclusive lock of one output folder, held by this process until ``release``."""

    def __init__(self, folder: Path, run_id: str) -> None:
        self.path = folder / LOCK_FILE
        self.fd = _take_lock(self.path)
        holder = {"pid": os.getpid(), "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                  "host": socket.gethostname(), "run": run_id}
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, (json.dumps(holder) + "\n").encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self.fd)
            self.fd = None


def _take_lock(path: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise UserError(f"cannot write in output folder {path.parent}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            error = _in_use(path, fd)
            os.close(fd)
            raise error from None
        try:  # the holder before us may have removed the file between our open and our lock: lock the new one
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _in_use(path: Path, fd: int) -> UserError:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        who = f"pid {holder['pid']} on {holder['host']}, started {holder['started']}, run {holder['run']}"
    except (OSError, ValueError, KeyError, TypeError):
        who = "just starting"
    return UserError(f"output folder {path.parent} is in use by another videocap run ({who}): wait for it to "
                     "finish or choose another --out")


def check_input_kept(source: str | os.PathLike, out_dir: str | os.PathLike, names: tuple[str, ...]) -> None:
    """A run never writes over its own input: a one-line error, before any work, when ``source`` is one of the
    files ``names`` the run writes into ``out_dir``."""
    given = Path(source).resolve()
    for name in names:
        if (Path(out_dir) / name).resolve() == given:
            raise UserError(f"{source}: this run would write its {name} over its own input; choose another --out "
                            "folder (or rename the video)")


def written_names(out: Path) -> set[str]:
    """The files of ``out`` that videocap put there (its ledger; none without a readable one)."""
    try:
        names = json.loads((out / LEDGER_FILE).read_text(encoding="utf-8")).get("names", [])
        return {name for name in names if isinstance(name, str)}
    except (OSError, ValueError, AttributeError):
        return set()


def check_free(out_dir: str | os.PathLike, names: Iterable[str], owned: Iterable[str] = ()) -> None:
    """A one-line error when a file of one of the output ``names`` exists in ``out_dir`` and videocap did not
    write it (not in the folder's ledger nor in ``owned``, the previous set's manifest): never replaced."""
    out = Path(out_dir)
    if not out.is_dir():
        return
    mine = written_names(out) | set(owned)
    for name in sorted(set(names) - mine):
        if os.path.lexists(out / name):
            raise UserError(f"{out / name} exists and videocap did not write it (it is not part of videocap's "
                            "previous set there): move it away, or choose another --out")


def check_not_in_use(out_dir: str | os.PathLike) -> None:
    """Fail at once when another run holds the lock of ``out_dir`` (a look only: nothing is created), so that
    a second run stops before its slow checks; ``output_run`` takes the lock for real later."""
    path = Path(out_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # conflicts with the holder's exclusive lock
    except BlockingIOError:
        raise _in_use(path, fd) from None
    finally:
        os.close(fd)


class Staging:
    """One run's staging folder inside its output folder; ``suffixes``: the kinds of file it may put in place."""

    def __init__(self, out: Path, run_id: str, suffixes: tuple[str, ...]) -> None:
        self.out = out
        self.run_id = run_id
        self.suffixes = suffixes
        self.folder = out / f"{STAGING_PREFIX}{run_id}"
        try:
            self.folder.mkdir()
        except OSError as exc:
            raise _write_error(out, exc) from exc
        self.committed = False

    def path(self, name: str) -> Path:
        return self.folder / name

    def commit(self, names: Iterable[str], remove: Iterable[str] = (), owned: Iterable[str] = ()) -> None:
        """Move the staged ``names`` into the output folder in this order, then remove ``remove`` (the previous
        set's files that the new set lacks); SIGINT and SIGTERM wait until it is done. A name held by a file
        videocap did not write (see ``check_free``; ``remove`` and ``owned`` are the previous set's) stops it."""
        names, remove = list(names), set(remove)
        check_free(self.out, names, remove | set(owned))
        for name in names:  # refused before anything moves: a name left out silently is a set with a hole
            if not is_plain_name(name, self.suffixes) or not (self.folder / name).is_file():
                why = "is not in the staging folder" if is_plain_name(name, self.suffixes) else \
                    f"is not a file name of a kind videocap writes ({', '.join(self.suffixes)})"
                raise ValueError(f"cannot put {name!r} into {self.out}: it {why}")
        remove = sorted({name for name in remove if is_plain_name(name, self.suffixes)} - set(names))
        with _signals_held():
            write_json(self.folder / COMMIT_FILE, {"run": self.run_id, "names": names, "remove": remove})
            self.committed = True
            _finish_commit(self.out, self.folder, self.suffixes)

    def discard(self) -> None:
        if not self.committed:
            shutil.rmtree(self.folder, ignore_errors=True)


def _finish_commit(out: Path, folder: Path, suffixes: tuple[str, ...]) -> None:
    """Do (or finish) the moves and removals a staging folder's commit list names."""
    plan = json.loads((folder / COMMIT_FILE).read_text(encoding="utf-8"))
    for name in plan["names"]:
        if is_plain_name(name, suffixes) and (folder / name).exists():  # absent: moved before an interruption
            os.replace(folder / name, out / name)
    for name in plan["remove"]:
        if is_plain_name(name, suffixes):
            (out / name).unlink(missing_ok=True)
    kept = {name for name in written_names(out) if os.path.lexists(out / name)} - set(plan["remove"])
    write_json(out / LEDGER_FILE, {"names": sorted(kept | set(plan["names"]))})
    shutil.rmtree(folder, ignore_errors=True)


def recover(out: Path, suffixes: tuple[str, ...]) -> None:
    """What killed runs left in ``out`` (call with the lock held): commits finished, other staging removed."""
    for folder in out.glob(f"{STAGING_PREFIX}*"):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            _finish_commit(out, folder, suffixes)
        except (OSError, ValueError, KeyError, TypeError):
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    held = {signal.SIGINT, signal.SIGTERM}
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _write_error(out: Path, exc: OSError) -> UserError:
    if exc.errno == errno.ENOSPC:
        return UserError(f"no space left on the device to write in {out}: free some space or use --out elsewhere")
    return UserError(f"cannot write in output folder {out}: {exc.strerror}")


@contextlib.contextmanager
def output_run(out_dir: str | os.PathLike, suffixes: tuple[str, ...], run_id: str | None = None) -> Iterator[Staging]:
    """The locked output folder (created now) and this run's staging folder in it, for files of the kinds
    ``suffixes`` (``videocap.outputs.registry.OUTPUT_SUFFIXES``); see the module's doc.

    On leaving the block by an exception the staging folder is removed; ``staging.commit`` must be
    called inside the block to put the outputs in place.
    """
    created = not os.path.lexists(out_dir)
    out = ensure_writable_dir(out_dir)
    run_id = run_id or new_run_id()
    lock = FolderLock(out, run_id)
    try:
        recover(out, suffixes)
        staging = Staging(out, run_id, suffixes)
        try:
            yield staging
        finally:
            staging.discard()
    except BaseException:
        lock.release()
        if created:  # a failed first run leaves no empty folder behind
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    lock.release()
