"""Where ``train-dam`` may write a checkpoint: videocap replaces only folders it wrote itself.

A checkpoint folder videocap writes holds a marker file, ``videocap-checkpoint.json``, that lists the
checkpoint's files. ``--out`` may name a new folder, an empty one, or one with that marker holding only
the files it lists (an earlier run's checkpoint, replaced through a sibling folder and a rename); anything
else (a user's folder, a file the marker does not list, a file, a place that cannot be written) is a
one-line error before any data is prepared or any model loads. No torch here: the checks run first.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from videocap.errors import UserError

MARKER = "videocap-checkpoint.json"
STATE_SUFFIX = ".state"  # the resumable training state lives beside the model folder, in OUT.state/
STATE_FILE = "training_state.pt"
GENERATED = ("shapes:", "shapes-stills:")  # datasets.SHAPES_PREFIX, STILLS_PREFIX (that module imports torch)


def check_out_dir(out: str | os.PathLike) -> Path:
    """``out`` if a checkpoint may be written there (see the module's doc), else a one-line ``UserError``."""
    out = Path(out)
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(f"--out {out} exists and is not a folder: give a new folder for the checkpoint")
    if out.is_dir() and any(out.iterdir()):
        _check_only_listed(out)
    state = out.with_name(out.name + STATE_SUFFIX)
    if state.exists() and not state.is_dir():
        raise UserError(f"{state} (where training keeps its state) exists and is not a folder: move it away")
    _check_can_create_in(out.parent)
    return out


def _files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir() and p.name != MARKER)


def _check_only_listed(out: Path) -> None:
    """A non-empty ``out`` must be a videocap checkpoint holding nothing its marker does not list."""
    if not (out / MARKER).is_file():
        raise UserError(f"--out {out} holds files that are not a videocap checkpoint: give a new or empty folder "
                        "(videocap replaces only checkpoints it wrote)")
    try:
        listed = set(json.loads((out / MARKER).read_text(encoding="utf-8")).get("files") or [])
    except (OSError, ValueError, AttributeError):
        listed = set()
    foreign = [name for name in _files_in(out) if name not in listed]
    if foreign:
        raise UserError(f"--out {out}: {out / foreign[0]} is not a file of the checkpoint videocap wrote there "
                        f"({len(foreign)} such file(s)), and replacing the checkpoint would delete it: move it "
                        "away, or give a new folder")


def _check_can_create_in(folder: Path) -> None:
    """Try what saving will do in the nearest existing folder at or above ``folder``: create a folder."""
    existing = folder.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".videocap-probe-", dir=existing))
    except OSError as exc:
        raise UserError(f"cannot write a checkpoint under {existing}: {exc.strerror}: choose another --out") from exc


def check_train_inputs(datasets: Sequence[str], init: str, out: str | os.PathLike, resume: bool) -> None:
    """Every ``train-dam`` path check, before any data is prepared: ``--data`` files, ``--out``, ``--resume``
    and an ``--init`` architecture file (which must parse as a YAML/JSON mapping)."""
    for data in datasets:
        if not data.startswith(GENERATED) and not Path(data).is_file():
            raise UserError(f"--data {data}: no such file (give a .jsonl of frames, masks and captions, or shapes:N)")
    out = check_out_dir(out)
    if resume and not (out.with_name(out.name + STATE_SUFFIX) / STATE_FILE).is_file():
        raise UserError(f"--resume: there is no training state in {out}{STATE_SUFFIX}/ to resume from "
                        "(run without --resume to start training)")
    if Path(init).suffix in {".yaml", ".yml", ".json"}:
        read_architecture(init)


def read_architecture(init: str) -> dict:
    """The architecture sizes of an ``--init`` .yaml/.json file; one line when it is missing or unreadable."""
    import yaml

    path = Path(init)
    if not path.is_file():
        raise UserError(f"--init {init}: no such architecture file")
    try:
        arch = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where is not None else ""
        raise UserError(f"--init {init}: not valid YAML{at}: fix the file or give a checkpoint folder") from exc
    if not isinstance(arch, dict):
        raise UserError(f"--init {init}: expected a mapping of architecture sizes")
    check_architecture(init, arch)
    return arch


#: What an architecture file gives ``videocap.dam.config.synthetic_config``: (type, required) per key.
ARCHITECTURE_KEYS = {
    "vision_width": (int, True), "vision_layers": (int, True), "vision_heads": (int, True), "vision_mlp": (int, True),
    "llm_width": (int, True), "llm_layers": (int, True), "llm_heads": (int, True), "llm_mlp": (int, True),
    "vocab_size": (int, True), "image_size": (int, False), "patch_size": (int, False),
    "masked_cross_attn": (bool, False), "max_length": (int, False), "prompt_style": (str, False),
}


def check_architecture(init: str, arch: dict) -> None:
    """Every key of an architecture file known, of its type and (sizes) positive; none of the required missing."""
    unknown = sorted(set(arch) - set(ARCHITECTURE_KEYS))
    missing = [k for k, (_, required) in ARCHITECTURE_KEYS.items() if required and k not in arch]
    if unknown or missing:
        what = "; ".join(part for part in (f"unknown key(s) {', '.join(map(str, unknown))}" if unknown else "",
                                           f"missing {', '.join(missing)}" if missing else "") if part)
        raise UserError(f"--init {init}: {what} (an architecture file has {', '.join(ARCHITECTURE_KEYS)}; see "
                        "videocap/data/configs/demo-dam.yaml)")
    for key, value in arch.items():
        kind = ARCHITECTURE_KEYS[key][0]
        if type(value) is not kind or (kind is int and value < 1):
            wanted = {int: "a whole number of 1 or more", bool: "true or false", str: "text"}[kind]
            raise UserError(f"--init {init}: {key} is {value!r}; give {wanted}")


def replace_dir(new: Path, out: Path) -> None:
    """Put the complete folder ``new`` (a sibling of ``out``) in place of ``out``, which is missing, empty or
    a videocap checkpoint (checked again now)."""
    check_out_dir(out)
    marker = {"format": "videocap DAM checkpoint (official layout)", "files": _files_in(new)}
    (new / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    if not out.exists():
        new.rename(out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    out.rename(old / out.name)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)
