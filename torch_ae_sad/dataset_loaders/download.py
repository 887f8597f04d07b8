"""Fetch Fashion-MNIST or CIFAR-10 from their canonical mirrors into the datasets folder.

Nothing in the package downloads by itself; this module is a command for users with internet::

    python -m torch_ae_sad.dataset_loaders.download {fashion_mnist,cifar10} [--root DIR]
        [--mirror URL] [--force] [--keep-archive]

By default the files go to ``<repository>/datasets/<name>/``, one of the folders
:func:`~torch_ae_sad.dataset_loaders.sources.load_dataset` searches. Every file is written to a
temporary file in the destination folder, checked against its known checksum and only then
moved into place with :func:`os.replace`, so a failed or interrupted run leaves no half file.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from torch_ae_sad import PROJECT_ROOT, __version__
from torch_ae_sad.dataset_loaders.sources import (
    CIFAR_TEST,
    CIFAR_TRAIN,
    DATASETS,
    IDX_FILES,
    KNOWN_SHA256,
    ChecksumError,
    candidate_dirs,
    sha256_of,
)

#: Canonical base URL of each downloadable dataset.
MIRRORS: dict[str, str] = {
    "fashion_mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "cifar10": "https://www.cs.toronto.edu/~kriz/",
}

#: The CIFAR-10 python-format archive and the folder it unpacks to.
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_FOLDER = "cifar-10-batches-py"

#: Fashion-MNIST: sha256 of the *decompressed* content of ``<stem>.gz``, by file stem
#: (a copy of ``sources.KNOWN_SHA256["fashion_mnist"]``, so tests can patch it alone).
FASHION_MNIST_SHA256: dict[str, str] = dict(KNOWN_SHA256["fashion_mnist"])

#: CIFAR-10: sha256 of the archive file itself. The value is the one Keras
#: (``keras.datasets.cifar10``, ``file_hash``) checks; the archive is 170,498,071 bytes and its
#: md5, the one the dataset's authors publish on https://www.cs.toronto.edu/~kriz/cifar.html
#: (and torchvision checks), is c58f30108f718f92721af3b95e74349a.
CIFAR10_SHA256: dict[str, str] = {
    CIFAR_ARCHIVE: "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
}

_NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, TimeoutError,
                   ConnectionError)
_BLOCK = 1 << 16


class UnsafeArchiveError(ValueError):
    """An archive member that would land outside the destination, or is not a plain file."""


def _check_name(name: str) -> str:
    if name not in MIRRORS:
        hint = ""
        if name in DATASETS:
            hint = (f" ({name!r} needs no download: "
                    + ("it ships with the repository in datasets/mnist/)" if name == "mnist"
                       else "it comes with scikit-learn)"))
        raise ValueError(f"unknown dataset {name!r} for download; expected one of "
                         f"{list(MIRRORS)}{hint}")
    return name


def _check_mirror(base: str) -> str:
    scheme = urllib.parse.urlsplit(base).scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"mirror {base!r}: expected an http:// or https:// URL, found scheme "
                         f"{scheme!r}")
    return base


def _url(base: str, filename: str) -> str:
    _check_mirror(base)
    if base.endswith("/" + filename):
        return base
    return base.rstrip("/") + "/" + filename


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, flush=True)


def _matches(path: Path, expected: str, check: Callable[[Path], str]) -> bool:
    try:
        return check(path) == expected
    except (OSError, EOFError):  # unreadable or broken gzip stream
        return False


def fetch(url: str, target: Path, *, expected: str, check: Callable[[Path], str],
          timeout: float = 60.0, verbose: bool = True) -> Path:
    """Download ``url`` to ``target`` via a verified temporary file in the same folder.

    Parameters
    ----------
    url : str
        What to fetch (http or https).
    target : Path
        Where the file ends up; replaced atomically, only once it has been verified.
    expected : str
        The hex digest ``check`` must return for the downloaded file.
    check : callable
        Maps a file path to its hex digest (e.g. :func:`sources.sha256_of`).
    timeout : float
        Seconds to wait on the connection before giving up.
    verbose : bool
        Show a tqdm progress bar in bytes.

    Returns
    -------
    Path
        ``target``.

    Raises
    ------
    RuntimeError
        On a network error (naming the URL and the cause) or a truncated transfer.
    ChecksumError
        If the downloaded content does not match ``expected``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={
                "User-Agent": f"torch_ae_sad/{__version__} (python-urllib)"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    received = 0
                    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=target.name, disable=not verbose) as bar:
                        for block in iter(lambda: response.read(_BLOCK), b""):
                            out.write(block)
                            received += len(block)
                            bar.update(len(block))
            except _NETWORK_ERRORS as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    reason = f"HTTP {exc.code} {exc.reason}"
                else:
                    reason = getattr(exc, "reason", None) or exc
                raise RuntimeError(f"could not download {url}: {reason}") from exc
            if total is not None and received != total:
                raise RuntimeError(f"could not download {url}: expected {total} bytes, "
                                   f"received {received} (connection cut short)")
        try:
            found = check(tmp)
        except (OSError, EOFError) as exc:
            raise ChecksumError(f"{url} (for {target}): expected sha256 {expected}, found "
                                f"unreadable content ({exc})") from exc
        if found != expected:
            raise ChecksumError(f"{url} (for {target}): expected sha256 {expected}, found "
                                f"{found}")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def _safe_members(tar: tarfile.TarFile, archive: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        name = member.name
        parts = re.split(r"[/\\]", name)
        if (name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name)
                or ".." in parts):
            raise UnsafeArchiveError(f"{archive}: refusing member {name!r} (an absolute path "
                                     "or one with '..' would land outside the destination)")
        if not (member.isfile() or member.isdir()):
            raise UnsafeArchiveError(f"{archive}: refusing member {name!r}: expected only "
                                     "regular files and folders, found a link or special file")
    return members


def extract_cifar(archive: Path, dest: Path) -> Path:
    """Safely unpack a CIFAR-10 archive so that ``dest/cifar-10-batches-py/`` holds the batches.

    Parameters
    ----------
    archive : Path
        The ``cifar-10-python.tar.gz`` file.
    dest : Path
        The folder to unpack into.

    Returns
    -------
    Path
        ``dest / "cifar-10-batches-py"``.

    Raises
    ------
    UnsafeArchiveError
        On a member with an absolute path, a ``..`` component, or of a type other than a
        regular file or folder; nothing is extracted then.
    ValueError
        If the archive lacks one of the batches ``data_batch_1..5`` and ``test_batch``.
    """
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / CIFAR_FOLDER
    staging = Path(tempfile.mkdtemp(prefix=".cifar10-extract-", dir=dest))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = _safe_members(tar, archive)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, members=members, filter="data")
            else:  # Python < 3.10.12 / 3.11.4: members were checked above
                tar.extractall(staging, members=members)
        unpacked = staging / CIFAR_FOLDER
        missing = [f for f in CIFAR_TRAIN + CIFAR_TEST if not (unpacked / f).is_file()]
        if missing:
            raise ValueError(f"{archive}: expected {CIFAR_FOLDER}/ with "
                             f"{CIFAR_TRAIN + CIFAR_TEST}, missing {missing}")
        if final.exists():  # --force: move the old copy aside, removed with the staging folder
            os.replace(final, staging / ".previous")
        os.replace(unpacked, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _cifar_present(dest: Path) -> bool:
    wanted = CIFAR_TRAIN + CIFAR_TEST
    return any(all((sub / f).is_file() for f in wanted) for sub in (dest, dest / CIFAR_FOLDER))


def _download_fashion_mnist(dest: Path, base: str, force: bool, timeout: float,
                            verbose: bool) -> None:
    for stem in IDX_FILES.values():
        filename = f"{stem}.gz"
        target = dest / filename
        expected = FASHION_MNIST_SHA256[stem]
        if not force and target.is_file():
            if _matches(target, expected, sha256_of):
                _say(verbose, f"  {filename}: present and verified, skipped")
                continue
            _say(verbose, f"  {filename}: present but its sha256 differs, downloading again")
        fetch(_url(base, filename), target, expected=expected, check=sha256_of,
              timeout=timeout, verbose=verbose)


def _archive_sha256(path: Path) -> str:
    return sha256_of(path, decompress=False)


def _download_cifar10(dest: Path, base: str, force: bool, timeout: float, verbose: bool,
                      keep_archive: bool) -> None:
    if not force and _cifar_present(dest):
        _say(verbose, f"  {CIFAR_FOLDER}/: present, skipped (use --force to fetch it again)")
        return
    archive = dest / CIFAR_ARCHIVE
    expected = CIFAR10_SHA256[CIFAR_ARCHIVE]
    if not force and archive.is_file() and _matches(archive, expected, _archive_sha256):
        _say(verbose, f"  {CIFAR_ARCHIVE}: present and verified, not downloaded again")
    else:
        fetch(_url(base, CIFAR_ARCHIVE), archive, expected=expected, check=_archive_sha256,
              timeout=timeout, verbose=verbose)
    _say(verbose, f"  extracting {CIFAR_ARCHIVE} into {dest / CIFAR_FOLDER}")
    extract_cifar(archive, dest)
    if not keep_archive:
        archive.unlink()


def download(name: str, root: str | Path | None = None, *, mirror: str | None = None,
             force: bool = False, timeout: float = 60.0, keep_archive: bool = False,
             verbose: bool = True) -> Path:
    """Download a dataset's files, verify them and put them where ``load_dataset`` looks.

    Parameters
    ----------
    name : {"fashion_mnist", "cifar10"}
        The dataset.
    root : str or Path, optional
        The dataset folder itself (pass the same to ``load_dataset(name, root=...)``);
        default ``<repository>/datasets/<name>/``.
    mirror : str, optional
        Base URL replacing the canonical one (for CIFAR-10 the URL to which
        ``cifar-10-python.tar.gz`` is appended).
    force : bool
        Download again even if valid files are present.
    timeout : float
        Seconds to wait on each connection.
    keep_archive : bool
        CIFAR-10: keep ``cifar-10-python.tar.gz`` after extracting it.
    verbose : bool
        Print the destination, per-file progress bars and a final line.

    Returns
    -------
    Path
        The folder holding the data.

    Raises
    ------
    ValueError
        On an unknown ``name`` or a mirror that is not http(s).
    RuntimeError
        On a network error, naming the URL and the cause.
    ChecksumError
        If a downloaded file does not match its known checksum (no file is left behind).
    UnsafeArchiveError
        If the CIFAR-10 archive holds a member that would land outside the destination.
    """
    _check_name(name)
    dest = Path(root) if root is not None else PROJECT_ROOT / "datasets" / name
    dest = dest.expanduser().resolve()
    base = mirror if mirror is not None else MIRRORS[name]
    _check_mirror(base)  # before touching the disk
    dest.mkdir(parents=True, exist_ok=True)
    _say(verbose, f"Downloading {name} from {base} into {dest}")
    if name == "fashion_mnist":
        _download_fashion_mnist(dest, base, force, timeout, verbose)
    else:
        _download_cifar10(dest, base, force, timeout, verbose, keep_archive)
    searched = {d.expanduser().resolve() for d in candidate_dirs(name)}
    call = f"load_dataset({name!r})" if dest in searched else \
        f"load_dataset({name!r}, root={str(dest)!r})"
    _say(verbose, f"Done: {call} will now find it.")
    return dest


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser of ``python -m torch_ae_sad.dataset_loaders.download``."""
    parser = argparse.ArgumentParser(
        prog="python -m torch_ae_sad.dataset_loaders.download",
        description="Download a dataset from its canonical mirror, verify its checksum and "
                    "put it where torch_ae_sad's load_dataset looks for it.")
    parser.add_argument("name", choices=list(MIRRORS), help="the dataset to download")
    parser.add_argument("--root", metavar="DIR", default=None,
                        help="the dataset folder to write into (default: "
                             "<repository>/datasets/<name>/)")
    parser.add_argument("--mirror", metavar="URL", default=None,
                        help="base URL replacing the canonical one (CIFAR-10: the URL to "
                             f"which {CIFAR_ARCHIVE} is appended)")
    parser.add_argument("--force", action="store_true",
                        help="download again even if valid files are present")
    parser.add_argument("--keep-archive", action="store_true",
                        help=f"CIFAR-10: keep {CIFAR_ARCHIVE} after extracting it")
    parser.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                        help="seconds to wait on each connection (default: 60)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (0 on success, 1 on an error)."""
    args = build_parser().parse_args(argv)
    try:
        download(args.name, args.root, mirror=args.mirror, force=args.force,
                 timeout=args.timeout, keep_archive=args.keep_archive)
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
