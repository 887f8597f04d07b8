"""The record store: every file of a run, written atomically, read by one reader.

A records folder holds, per run, ``<run_id>.json`` (the record), ``<run_id>.scores.npz`` (raw
scores) and, with ``--save-models``, ``<run_id>.model.pt``. This module owns all of them:

- writes go through a temporary file and ``os.replace`` (:func:`atomic_write`), the record
  last, so a reader never sees a partial file; :func:`clean_stale_tmp` removes what killed
  writes left;
- the sha256 of the scores and model files is recorded (``files``), and
  :func:`load_scores` / :func:`finished_record` check it, so a corrupt scores file is found
  and its run is done again;
- :func:`load_records` is the one reader that the runner, the executors, ``results`` and the
  analysis scripts use: it upgrades old specs (:func:`~.spec.upgrade_spec`) and reports the
  files it cannot use;
- a record names files of its own folder only (:func:`inside_folder`: no absolute path, no
  ``..``, no symbolic link out), scores are read with ``allow_pickle=False``, and model files
  hold data only (:mod:`~.model_files`), so opening a records folder from others runs no code
  of it;
- :class:`Claims` lets several drivers share one folder: a driver claims a run before it
  starts it (``<run_id>.claim``, with its owner and a heartbeat), and a claim whose driver
  stopped beating is taken over.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from torch_ae_sad.model.experiment import model_files
from torch_ae_sad.model.experiment.spec import SCHEMA, upgrade_spec

#: Where trainer modules write by default.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "json_metrics" / "staged"
#: Key of the serialized fitted detector in the arrays a run returns with ``save_model``.
MODEL_KEY = "__model__"
#: Temporary files of :func:`atomic_write`: ``.<name>.<pid>.<random>.tmp``.
TMP_SUFFIX = ".tmp"
#: Record schemas the reader accepts.
KNOWN_SCHEMAS = (SCHEMA,)
#: Status values of a finished run.
STATUSES = ("ok", "failed")


class RecordFileError(ValueError):
    """A file of a run that is missing, unreadable or not what its record says."""


# ----------------------------------------------------------------------------- writing
def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and check that files can be written there.

    Raises
    ------
    OSError
        Naming the folder: it cannot be created, is not a folder, or is not writable.
    """
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"records folder {out}: expected a folder, found a file")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check.", suffix=TMP_SUFFIX):
            pass
    except OSError as exc:
        raise PermissionError(f"records folder {out}: not writable ({exc.strerror or exc}); "
                              "give a writable --out") from None
    return out


def atomic_write(path: Path, write: Callable[[Any], Any]) -> None:
    """Write ``path`` through a temporary file in the same folder, then ``os.replace`` it.

    A reader never sees a partial file; a write killed half-way leaves only a hidden
    ``.<name>.<pid>.*.tmp`` file that :func:`clean_stale_tmp` removes later.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.",
                               suffix=TMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; a no-op where folders cannot be opened)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` atomically to ``path``; return its sha256."""
    atomic_write(path, lambda fh: fh.write(data))
    return hashlib.sha256(data).hexdigest()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_tmp(folder: str | Path, *, max_age: float = 3600.0) -> list[Path]:
    """Remove temporary files left in ``folder`` by killed writes; return their paths.

    A ``.<name>.<pid>.*.tmp`` file is stale when process ``pid`` is gone (or, for names
    without a pid, when it is older than ``max_age`` seconds); files of live writers are kept,
    so two grids may share a folder.
    """
    removed = []
    for tmp in Path(folder).glob(f".*{TMP_SUFFIX}"):
        parts = tmp.name.split(".")
        pid = next((int(p) for p in parts[2:-1] if p.isdigit()), None)
        try:
            stale = (not _pid_alive(pid)) if pid is not None else \
                time.time() - tmp.stat().st_mtime > max_age
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def serialize_model(model: Any) -> bytes | str:
    """The model file of a fitted detector (:mod:`~.model_files`), or why there is none.

    The file holds data only (class name, parameters, fitted attributes, the networks'
    weights copied to the CPU); the live detector is left untouched, wherever it runs.

    Returns
    -------
    bytes or str
        The file's bytes; or, for a detector whose fitted state is not data a model file
        holds, a sentence saying so (:func:`save_record` puts it in the record as
        ``model_note`` and writes no model file).
    """
    try:
        return model_files.dumps(model)
    except model_files.ModelNotStorable as exc:
        return f"no model file: {exc}"


def load_model(path: str | Path, *, trust_pickle: bool = False) -> Any:
    """Load the detector of a model file (``<run_id>.model.pt``) on the CPU.

    Opening a model file runs no code of it (:mod:`~.model_files`): a file of the old pickled
    kind, or one that does not parse, is refused unless ``trust_pickle`` (for old files you
    made yourself: they are unpickled, with a warning, which runs any code they hold).

    Raises
    ------
    RecordFileError
        Naming the file, what it is and how to re-create it (``--save-models`` on the same
        grid).
    """
    try:
        return model_files.read(path, trust_pickle=trust_pickle)
    except model_files.ModelFileError as exc:
        raise RecordFileError(str(exc)) from None


def save_record(out_dir: str | Path, record: dict[str, Any], scores: dict | None) -> Path:
    """Write a run's files, each atomically, the record last.

    ``<run_id>.model.pt`` (when ``scores`` holds :data:`MODEL_KEY`: the bytes of
    :func:`serialize_model`; its note instead becomes the record's ``model_note`` and no model
    file is written), ``<run_id>.scores.npz`` (if any), then ``<run_id>.json``; the sha256 of
    each data file goes into the record's ``files`` (with the model file's
    ``format_version``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rid = record["run_id"]
    files: dict[str, dict[str, Any]] = {}
    if scores is not None and MODEL_KEY in scores:
        scores = dict(scores)
        model = scores.pop(MODEL_KEY)
        if isinstance(model, str):
            record["model_note"] = model
        else:
            record["model_file"] = f"{rid}.model.pt"
            files[record["model_file"]] = {
                "sha256": write_bytes(out / record["model_file"], model),
                "format_version": model_files.FORMAT_VERSION}
    if scores is not None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **scores)
        record["scores_file"] = f"{rid}.scores.npz"
        files[record["scores_file"]] = {
            "sha256": write_bytes(out / record["scores_file"], buffer.getvalue())}
    if files:
        record["files"] = files
    path = out / f"{rid}.json"
    atomic_write(path, lambda fh: fh.write(json.dumps(record, indent=1).encode()))
    return path


# ----------------------------------------------------------------------------- reading
def check_record(rec: Any) -> dict[str, Any]:
    """A record as the runner and analysis use it: schema checked, spec upgraded.

    Raises
    ------
    ValueError
        Saying what is wrong: not a dict, no run id, an unknown schema, no spec, a status
        other than ``ok`` / ``failed``.
    """
    if not isinstance(rec, dict) or "run_id" not in rec:
        raise ValueError("expected a run record (a JSON object with 'run_id'), found "
                         f"{type(rec).__name__}")
    schema = rec.get("schema")
    if schema not in KNOWN_SCHEMAS:
        found = "no 'schema' field (an older record format)" if schema is None else \
            f"schema {schema!r}"
        raise ValueError(f"{found}; this version reads schema {SCHEMA}")
    if not isinstance(rec.get("spec"), dict):
        raise ValueError("expected a 'spec' dict, found none")
    if rec.get("status") not in STATUSES:
        raise ValueError(f"expected status among {STATUSES}, found {rec.get('status')!r}")
    return {**rec, "spec": upgrade_spec(rec["spec"])}


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and check one record file (:func:`check_record`).

    Raises
    ------
    RecordFileError
        Naming the file and what is wrong with it (FileNotFoundError passes through).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise RecordFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        rec = json.loads(text)
    except ValueError as exc:
        raise RecordFileError(f"{path}: not JSON ({type(exc).__name__}: {exc})") from None
    try:
        return check_record(rec)
    except ValueError as exc:
        raise RecordFileError(f"{path}: {exc}") from None


def load_records(folder: str | Path) -> tuple[list[dict[str, Any]], list[tuple[Path, str]]]:
    """Read every ``*.json`` record in ``folder``: the one reader of this project.

    Hidden temporary files are ignored; every record is checked and its spec upgraded
    (:func:`check_record`).

    Returns
    -------
    records : list of dict
    problems : list of (path, reason)
        Files that could not be used as records (reported, not fatal).
    """
    records, problems = [], []
    for path in sorted(Path(folder).glob("*.json")):
        if path.name.startswith("."):
            continue
        try:
            records.append(read_record(path))
        except (OSError, RecordFileError) as exc:
            problems.append((path, str(exc).removeprefix(f"{path}: ")))
    return records, problems


def data_file(folder: str | Path, record: dict[str, Any], key: str) -> Path:
    """The path of the file a record names under ``key`` (``scores_file``, ``model_file``).

    A record names files of its own folder only: a name that is absolute, holds ``..``, or
    leads out of ``folder`` through a symbolic link is refused.

    Raises
    ------
    RecordFileError
        When the record names no such file (with its ``model_note``, if any), names one
        outside ``folder`` (the message names the record), or the file is missing.
    """
    rid = record.get("run_id")
    name = record.get(key)
    if not name:
        note = record.get("model_note") if key == "model_file" else None
        hint = f" ({note})" if note else \
            "; run the trainer with --save-models" if key == "model_file" else ""
        raise RecordFileError(f"run {rid}: the record names no {key.replace('_', ' ')} "
                              f"('{key}'){hint}")
    path = inside_folder(folder, name, f"{Path(folder) / f'{rid}.json'}: {key}")
    if not path.is_file():
        raise RecordFileError(f"run {rid}: {key.replace('_', ' ')} {path} is missing")
    return path


def inside_folder(folder: str | Path, name: Any, what: str) -> Path:
    """``folder / name`` when it stays inside ``folder``; a :class:`RecordFileError` if not.

    ``name`` must be a relative path without ``..`` whose target, symbolic links followed,
    lies inside ``folder``; ``what`` starts the error message (e.g. the record and its key).
    """
    rel = Path(name) if isinstance(name, str) else None
    if rel is None or rel.is_absolute() or rel.anchor or ".." in rel.parts:
        raise RecordFileError(f"{what} {name!r}: refused, a record names only files in its "
                              "own folder (a relative name, no '..', not an absolute path)")
    root = Path(folder).resolve()
    path = Path(folder) / rel
    target = path.resolve()
    if not target.is_relative_to(root):
        raise RecordFileError(f"{what} {name!r}: refused, it leads out of the records folder "
                              f"{root} (a symbolic link to {target})")
    return path


def verify_file(folder: str | Path, record: dict[str, Any], key: str) -> Path:
    """:func:`data_file`, with the file's sha256 checked against the record's ``files``."""
    path = data_file(folder, record, key)
    expected = ((record.get("files") or {}).get(record[key]) or {}).get("sha256")
    if expected is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != expected:
            raise RecordFileError(f"run {record.get('run_id')}: {path} is corrupt (sha256 "
                                  f"{digest[:12]}..., the record says {expected[:12]}...); "
                                  "run the grid again to redo it")
    return path


def model_path(folder: str | Path, record: dict[str, Any]) -> Path:
    """The verified model file of a record (:func:`verify_file` of ``model_file``)."""
    return verify_file(folder, record, "model_file")


def load_scores(folder: str | Path, record: dict[str, Any],
                keys: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The arrays of a record's scores file, integrity checked.

    Raises
    ------
    RecordFileError
        Naming the file: not named, missing, corrupt (sha256 or zip CRC), unreadable, or
        lacking one of ``keys``.
    """
    path = verify_file(folder, record, "scores_file")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib, ValueError, OSError
        raise RecordFileError(f"run {record.get('run_id')}: cannot read scores file {path}: "
                              f"{type(exc).__name__}: {exc}") from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise RecordFileError(f"run {record.get('run_id')}: scores file {path} lacks {missing}")
    return arrays


def finished_record(folder: str | Path, rid: str, *, need_model: bool = False
                    ) -> tuple[dict[str, Any] | None, str | None]:
    """The ``ok`` record of run ``rid`` with intact files, else ``(None, why)``.

    ``why`` is None when there is simply no record (or a failed one) and a message when a
    record or one of its files is unusable, so the caller can say why the run is done again.
    """
    path = Path(folder) / f"{rid}.json"
    try:
        rec = read_record(path)
    except FileNotFoundError:
        return None, None
    except RecordFileError as exc:
        return None, str(exc)
    if rec["status"] != "ok":
        return None, None
    try:
        if rec.get("scores_file"):
            load_scores(folder, rec)
        if need_model and not (rec.get("model_note") and not rec.get("model_file")):
            _check_model_format(folder, rec)
    except RecordFileError as exc:
        return None, str(exc)
    return rec, None


def _check_model_format(folder: str | Path, record: dict[str, Any]) -> None:
    """A :class:`RecordFileError` unless the record's model file is intact and current."""
    path = model_path(folder, record)
    entry = (record.get("files") or {}).get(record["model_file"]) or {}
    version = entry.get("format_version")
    if version != model_files.FORMAT_VERSION:
        raise RecordFileError(f"run {record.get('run_id')}: model file {path} is of an older "
                              f"kind (format_version {version}; this version writes "
                              f"{model_files.FORMAT_VERSION}), so it is made again")


# ----------------------------------------------------------------------------- claims
#: Suffix of claim files.
CLAIM_SUFFIX = ".claim"


class Claims:
    """Claims on the runs of a folder, so that several drivers share a grid.

    A driver claims run ``rid`` by creating ``<rid>.claim`` exclusively (``O_CREAT |
    O_EXCL``), holding its owner (host, pid, a random token) and refreshed by a heartbeat
    thread every ``beat`` seconds while the driver lives. A claim whose file was not refreshed
    for ``stale_after`` seconds (its driver was killed, its machine lost) is taken over:
    renamed away atomically by one taker, then created anew. Works across machines on a
    shared file system whose clocks agree within ``stale_after``.

    Parameters
    ----------
    folder : str or Path
        The records folder.
    beat : float
        Seconds between heartbeats.
    stale_after : float
        Seconds without a heartbeat after which a claim is stale.
    """

    def __init__(self, folder: str | Path, *, beat: float = 10.0,
                 stale_after: float = 60.0) -> None:
        self.folder = Path(folder)
        self.beat, self.stale_after = float(beat), float(stale_after)
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(),
                      "token": uuid.uuid4().hex}
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def path(self, rid: str) -> Path:
        """The claim file of run ``rid``."""
        return self.folder / f"{rid}{CLAIM_SUFFIX}"

    def holder(self, rid: str) -> dict[str, Any] | None:
        """The owner of a live claim on ``rid`` (None when unclaimed or stale)."""
        return self._live_owner(self.path(rid))

    def _live_owner(self, path: Path) -> dict[str, Any] | None:
        """The owner in claim file ``path``; None when missing or stale.

        A claim is stale when its heartbeat is older than ``stale_after``, or at once when
        its owner is a process of this host that no longer exists.
        """
        try:
            age = time.time() - path.stat().st_mtime
            owner = json.loads(path.read_text() or "{}")
        except (FileNotFoundError, ValueError):
            return None
        if age > self.stale_after:
            return None
        if owner.get("host") == self.owner["host"] and isinstance(owner.get("pid"), int) \
                and not _pid_alive(owner["pid"]):
            return None
        return owner

    def take(self, rid: str) -> bool:
        """Claim run ``rid``; False when another live driver holds it (True if this one does)."""
        if rid in self._held:
            return True
        path = self.path(rid)
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if self.holder(rid) is not None or not self._break(path):
                    return False
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(self.owner))
            with self._lock:
                self._held.add(rid)
            return True
        return False

    def _break(self, path: Path) -> bool:
        """Move a stale claim away (one taker wins the rename); True if it is gone."""
        moved = path.with_name(f".{path.name}.{self.owner['token']}.stale")
        try:
            os.rename(path, moved)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        try:
            if self._live_owner(moved) is not None:
                # another driver took the claim over between our look and our rename: give
                # its fresh claim back (a link fails if a third one holds the name already)
                try:
                    os.link(moved, path)
                except OSError:
                    pass
                return False
            return True
        finally:
            moved.unlink(missing_ok=True)

    def release(self, rid: str) -> None:
        """Drop the claim on ``rid`` if this driver holds it."""
        with self._lock:
            if rid not in self._held:
                return
            self._held.discard(rid)
        path = self.path(rid)
        try:
            if json.loads(path.read_text() or "{}").get("token") == self.owner["token"]:
                path.unlink()
        except (FileNotFoundError, ValueError):
            pass

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.beat):
            with self._lock:
                held = list(self._held)
            for rid in held:
                try:
                    os.utime(self.path(rid))
                except OSError:
                    pass

    @contextmanager
    def active(self) -> Iterator[Claims]:
        """Beat while the block runs; release every claim still held when it ends."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                        name="claims-heartbeat")
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(timeout=5)
            for rid in list(self._held):
                self.release(rid)
