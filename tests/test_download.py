"""Offline tests of the dataset download command against a loopback HTTP server."""

from __future__ import annotations

import functools
import io
import pickle
import socket
import tarfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import download as dl
from torch_ae_sad.dataset_loaders.idx import write_idx
from torch_ae_sad.dataset_loaders.sources import (
    CIFAR_TEST,
    CIFAR_TRAIN,
    IDX_FILES,
    ChecksumError,
    load_dataset,
    sha256_of,
)

# ---------------------------------------------------------------- loopback server


class _Handler(SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, fmt: str, *args: object) -> None:
        pass


class _Server:
    def __init__(self, folder: Path) -> None:
        handler = type("Handler", (_Handler,), {"requests": []})
        self.handler = handler
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0),
                                         functools.partial(handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @property
    def requests(self) -> list[str]:
        return self.handler.requests

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def www(tmp_path: Path) -> Path:
    folder = tmp_path / "www"
    folder.mkdir()
    return folder


@pytest.fixture
def server(www: Path):
    srv = _Server(www)
    yield srv
    srv.close()


# ---------------------------------------------------------------- fixture files


def _fashion_arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "train_images": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train_labels": np.array([0, 1, 2, 3, 4], dtype=np.uint8),
        "test_images": rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "test_labels": np.array([9, 8, 7], dtype=np.uint8),
    }


@pytest.fixture
def fashion(www: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    """Serve tiny Fashion-MNIST IDX files under www/fashion/ and expect their checksums."""
    folder = www / "fashion"
    folder.mkdir()
    arrays = _fashion_arrays()
    sums = {}
    for key, stem in IDX_FILES.items():
        path = write_idx(folder / f"{stem}.gz", arrays[key])
        sums[stem] = sha256_of(path)
    for stem, digest in sums.items():
        monkeypatch.setitem(dl.FASHION_MNIST_SHA256, stem, digest)
    return arrays


def _batch(n: int, seed: int) -> dict[bytes, object]:
    rng = np.random.default_rng(seed)
    return {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)]}


def _add_bytes(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def _write_cifar_tar(path: Path, batches: dict[str, dict], extra: dict[str, bytes] | None = None
                     ) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        folder = tarfile.TarInfo(dl.CIFAR_FOLDER)
        folder.type = tarfile.DIRTYPE
        folder.mode = 0o755
        tar.addfile(folder)
        for name, batch in batches.items():
            _add_bytes(tar, f"{dl.CIFAR_FOLDER}/{name}", pickle.dumps(batch))
        for name, payload in (extra or {}).items():
            _add_bytes(tar, name, payload)
    return path


@pytest.fixture
def cifar(www: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict]:
    """Serve a tiny CIFAR-style archive under www/cifar/ and expect its sha256."""
    batches = {name: _batch(2 + i, i) for i, name in enumerate(CIFAR_TRAIN + CIFAR_TEST)}
    archive = _write_cifar_tar(www / "cifar" / dl.CIFAR_ARCHIVE, batches)
    monkeypatch.setitem(dl.CIFAR10_SHA256, dl.CIFAR_ARCHIVE,
                        sha256_of(archive, decompress=False))
    return batches


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_download_and_load(tmp_path, server, fashion):
    dest = tmp_path / "fm"
    out = dl.download("fashion_mnist", dest, mirror=f"{server.url}/fashion/", verbose=False)
    assert out == dest.resolve()
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{s}.gz" for s in IDX_FILES.values())
    x_tr, y_tr, x_te, y_te = load_dataset("fashion_mnist", root=dest, verify=False)
    np.testing.assert_array_equal(x_tr, fashion["train_images"])
    np.testing.assert_array_equal(y_tr, fashion["train_labels"])
    np.testing.assert_array_equal(x_te, fashion["test_images"])
    np.testing.assert_array_equal(y_te, fashion["test_labels"])
    assert y_tr.dtype == np.int64


def test_fashion_mnist_second_call_skips_and_force_refetches(tmp_path, server, fashion):
    dest = tmp_path / "fm"
    mirror = f"{server.url}/fashion"  # no trailing slash: joined all the same
    dl.download("fashion_mnist", dest, mirror=mirror, verbose=False)
    assert len(server.requests) == 4
    target = dest / "train-images-idx3-ubyte.gz"
    mtime = target.stat().st_mtime_ns
    dl.download("fashion_mnist", dest, mirror=mirror, verbose=False)
    assert len(server.requests) == 4
    assert target.stat().st_mtime_ns == mtime
    dl.download("fashion_mnist", dest, mirror=mirror, force=True, verbose=False)
    assert len(server.requests) == 8


def test_fashion_mnist_corrupt_file_is_replaced(tmp_path, server, fashion):
    dest = tmp_path / "fm"
    dest.mkdir()
    (dest / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not a gzip file")
    dl.download("fashion_mnist", dest, mirror=f"{server.url}/fashion/", verbose=False)
    assert len(server.requests) == 4
    _, _, _, y_te = load_dataset("fashion_mnist", root=dest)
    np.testing.assert_array_equal(y_te, fashion["test_labels"])


def test_wrong_checksum_raises_and_leaves_no_file(tmp_path, server, fashion, monkeypatch):
    stem = "train-labels-idx1-ubyte"
    monkeypatch.setitem(dl.FASHION_MNIST_SHA256, stem, "0" * 64)
    dest = tmp_path / "fm"
    with pytest.raises(ChecksumError) as info:
        dl.download("fashion_mnist", dest, mirror=f"{server.url}/fashion/", verbose=False)
    message = str(info.value)
    assert f"{server.url}/fashion/{stem}.gz" in message
    assert "0" * 64 in message
    assert not (dest / f"{stem}.gz").exists()
    assert _leftovers(dest) == []


def test_unknown_name_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="fashion_mnist") as info:
        dl.download("imagenet", tmp_path / "x", verbose=False)
    assert "cifar10" in str(info.value)
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="ships with the repository"):
        dl.download("mnist", tmp_path / "x", verbose=False)


def test_non_http_mirror_is_refused(tmp_path):
    with pytest.raises(ValueError, match="http"):
        dl.download("fashion_mnist", tmp_path / "x", mirror="file:///etc/", verbose=False)


def test_unreachable_mirror_raises_runtime_error(tmp_path, fashion):
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    dest = tmp_path / "fm"
    with pytest.raises(RuntimeError, match="could not download") as info:
        dl.download("fashion_mnist", dest, mirror=mirror, timeout=5, verbose=False)
    assert f"{mirror}train-images-idx3-ubyte.gz" in str(info.value)
    assert list(dest.iterdir()) == []


def test_missing_file_on_mirror_raises_runtime_error(tmp_path, server, fashion):
    with pytest.raises(RuntimeError, match="404") as info:
        dl.download("fashion_mnist", tmp_path / "fm", mirror=f"{server.url}/nothing/",
                    verbose=False)
    assert f"{server.url}/nothing/train-images-idx3-ubyte.gz" in str(info.value)
    assert list((tmp_path / "fm").iterdir()) == []


# ---------------------------------------------------------------- CIFAR-10


def test_cifar10_download_extract_and_load(tmp_path, server, cifar):
    dest = tmp_path / "c10"
    out = dl.download("cifar10", dest, mirror=f"{server.url}/cifar/", verbose=False)
    assert out == dest.resolve()
    assert sorted(p.name for p in dest.iterdir()) == [dl.CIFAR_FOLDER]  # archive deleted
    x_tr, y_tr, x_te, y_te = load_dataset("cifar10", root=dest)
    train = [cifar[name] for name in CIFAR_TRAIN]
    expected_x = np.concatenate([b[b"data"] for b in train]).reshape(-1, 3, 32, 32)
    np.testing.assert_array_equal(x_tr, expected_x)
    np.testing.assert_array_equal(y_tr, np.concatenate([b[b"labels"] for b in train]))
    np.testing.assert_array_equal(x_te, cifar["test_batch"][b"data"].reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(y_te, cifar["test_batch"][b"labels"])

    dl.download("cifar10", dest, mirror=f"{server.url}/cifar/", verbose=False)
    assert len(server.requests) == 1  # present: skipped


def test_cifar10_keep_archive_and_force(tmp_path, server, cifar):
    dest = tmp_path / "c10"
    mirror = f"{server.url}/cifar/{dl.CIFAR_ARCHIVE}"  # a full archive URL is accepted too
    dl.download("cifar10", dest, mirror=mirror, keep_archive=True, verbose=False)
    assert (dest / dl.CIFAR_ARCHIVE).is_file()
    dl.download("cifar10", dest, mirror=mirror, force=True, verbose=False)
    assert len(server.requests) == 2
    assert sorted(p.name for p in dest.iterdir()) == [dl.CIFAR_FOLDER]
    assert len(load_dataset("cifar10", root=dest)[0]) == sum(2 + i for i in range(5))


def test_cifar10_wrong_checksum_leaves_nothing(tmp_path, server, cifar, monkeypatch):
    monkeypatch.setitem(dl.CIFAR10_SHA256, dl.CIFAR_ARCHIVE, "f" * 64)
    dest = tmp_path / "c10"
    with pytest.raises(ChecksumError, match=dl.CIFAR_ARCHIVE):
        dl.download("cifar10", dest, mirror=f"{server.url}/cifar/", verbose=False)
    assert list(dest.iterdir()) == []


def test_cifar10_tar_with_parent_member_is_refused(tmp_path, www, server, cifar, monkeypatch):
    archive = _write_cifar_tar(www / "evil" / dl.CIFAR_ARCHIVE, cifar,
                               extra={"../evil": b"gotcha"})
    monkeypatch.setitem(dl.CIFAR10_SHA256, dl.CIFAR_ARCHIVE, sha256_of(archive, decompress=False))
    dest = tmp_path / "deep" / "c10"
    with pytest.raises(dl.UnsafeArchiveError, match=r"\.\./evil"):
        dl.download("cifar10", dest, mirror=f"{server.url}/evil/", verbose=False)
    assert not (tmp_path / "deep" / "evil").exists()
    assert not (dest / dl.CIFAR_FOLDER).exists()
    assert _leftovers(dest) == []


def test_cifar10_tar_with_absolute_or_link_member_is_refused(tmp_path, cifar):
    absolute = _write_cifar_tar(tmp_path / "abs.tar.gz", cifar, extra={"/tmp/evil": b"x"})
    with pytest.raises(dl.UnsafeArchiveError, match="absolute"):
        dl.extract_cifar(absolute, tmp_path / "a")
    linked = tmp_path / "link.tar.gz"
    with tarfile.open(linked, "w:gz") as tar:
        info = tarfile.TarInfo(f"{dl.CIFAR_FOLDER}/data_batch_1")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(dl.UnsafeArchiveError, match="link"):
        dl.extract_cifar(linked, tmp_path / "b")
    assert not (tmp_path / "b" / dl.CIFAR_FOLDER).exists()


# ---------------------------------------------------------------- command line


def test_cli_prints_destination_and_final_line(tmp_path, server, fashion, capsys):
    dest = tmp_path / "fm"
    status = dl.main(["fashion_mnist", "--root", str(dest), "--mirror",
                      f"{server.url}/fashion/"])
    assert status == 0
    out = capsys.readouterr().out
    assert str(dest.resolve()) in out
    assert "load_dataset('fashion_mnist'" in out.splitlines()[-1]
    assert "will now find it" in out.splitlines()[-1]


def test_final_line_names_plain_call_when_load_dataset_searches_there(tmp_path, server,
                                                                     fashion, monkeypatch,
                                                                     capsys):
    monkeypatch.setenv("TORCH_AE_SAD_DATA", str(tmp_path / "data"))
    dest = tmp_path / "data" / "fashion_mnist"
    assert dl.main(["fashion_mnist", "--root", str(dest), "--mirror",
                    f"{server.url}/fashion/"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == \
        "Done: load_dataset('fashion_mnist') will now find it."


def test_cli_error_exit_status(tmp_path, capsys):
    mirror = f"http://127.0.0.1:{_closed_port()}/"
    assert dl.main(["cifar10", "--root", str(tmp_path / "c"), "--mirror", mirror,
                    "--timeout", "5"]) == 1
    assert "could not download" in capsys.readouterr().err


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as info:
        dl.main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "fashion_mnist" in out and "cifar10" in out and "--mirror" in out
