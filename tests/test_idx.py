import gzip
import zlib

import numpy as np
import pytest

from torch_ae_sad.dataset_loaders import IDXFormatError, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_roundtrip_every_type(tmp_path, dtype, name):
    arr = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    path = write_idx(tmp_path / name, arr)
    back = read_idx(path)
    assert back.shape == (2, 3, 5)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, arr)


def test_gzip_detected_from_content(tmp_path):
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = write_idx(tmp_path / "noext", arr, compress=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(path), arr)


def test_truncated_file(tmp_path):
    path = write_idx(tmp_path / "t.idx", np.zeros((4, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IDXFormatError, match=r"t\.idx.*expected 100 data bytes.*found 90"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path):
    path = write_idx(tmp_path / "t.idx.gz", np.zeros((40, 5, 5), np.uint8))
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(IDXFormatError, match="t.idx.gz"):
        read_idx(path)


def test_wrong_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x01\x02\x08\x01" + np.uint32(3).byteswap().tobytes() + b"abc")
    with pytest.raises(IDXFormatError, match=r"bad\.idx: expected IDX magic.*found 0x01020801"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = tmp_path / "code.idx"
    path.write_bytes(gzip.compress(b"\x00\x00\x07\x01" + np.array([2], ">u4").tobytes() + b"ab"))
    with pytest.raises(IDXFormatError, match=r"code\.idx: expected an IDX type code.*found 0x07"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        read_idx(tmp_path / "nope.idx")


@pytest.mark.slow
def test_embedded_mnist_loads_fast_enough_to_use():
    from torch_ae_sad import PROJECT_ROOT

    images = read_idx(PROJECT_ROOT / "datasets/mnist/train-images-idx3-ubyte.gz")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert 0 < images.mean() < 255


def test_gzip_corrupted_mid_stream_names_the_file(tmp_path):
    rng = np.random.default_rng(0)
    path = write_idx(tmp_path / "flipped.idx.gz",
                     rng.integers(0, 16, size=(50, 28, 28), dtype=np.uint8))
    blob = bytearray(path.read_bytes())
    mid = len(blob) // 2
    blob[mid:mid + 8] = bytes(b ^ 0xFF for b in blob[mid:mid + 8])
    path.write_bytes(bytes(blob))
    with pytest.raises(IDXFormatError, match=r"flipped\.idx\.gz: expected a complete gzip"):
        read_idx(path)


def test_gzip_invalid_deflate_block_mid_stream_is_an_idx_error(tmp_path):
    # a valid first half, then a deflate block of the reserved type 3: zlib.error mid-stream
    payload = bytes([0, 0, 8, 1]) + np.array([4000], ">u4").tobytes() + bytes(range(250)) * 16
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    head = deflate.compress(payload[:2000]) + deflate.flush(zlib.Z_FULL_FLUSH)
    gz_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    path = tmp_path / "badblock.idx.gz"
    path.write_bytes(gz_header + head + b"\x07" + bytes(64))
    with pytest.raises(IDXFormatError, match=r"badblock\.idx\.gz: .*invalid block type") as err:
        read_idx(path)
    assert isinstance(err.value.__cause__, zlib.error)
