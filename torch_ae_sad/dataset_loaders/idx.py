"""Reader and writer of the IDX format (MNIST, Fashion-MNIST), raw or gzip-compressed.

An IDX file is a 4-byte magic number ``00 00 TT NN`` (``TT`` the element type code, ``NN`` the
number of dimensions), ``NN`` big-endian 32-bit sizes, then the elements in C order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

#: IDX type code -> big-endian NumPy dtype.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class IDXFormatError(ValueError):
    """An IDX file whose header or size does not match the format."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head == _GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read()
        except (EOFError, OSError, zlib.error) as exc:
            raise IDXFormatError(f"{path}: expected a complete gzip stream, found a broken one "
                                 f"({exc})") from exc
    return path.read_bytes()


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or ``.gz``) into a NumPy array shaped by its header.

    Parameters
    ----------
    path : str or Path
        The file. Gzip compression is detected from the content, not the name.

    Returns
    -------
    np.ndarray
        The array, in native byte order, with the header's dimensions.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    IDXFormatError
        On a wrong magic number, an unknown type code or a size that does not match the header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(f"{path}: expected at least a 4-byte IDX header, found {len(data)} "
                             "bytes")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(f"{path}: expected IDX magic number 0x0000TTNN, found "
                             f"0x{data[:4].hex()}")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IDXFormatError(f"{path}: expected an IDX type code in ({known}), found 0x{code:02X}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(f"{path}: expected a {header}-byte header for {ndim} dimensions, "
                             f"found {len(data)} bytes")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = IDX_TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        raise IDXFormatError(f"{path}: expected {expected} data bytes for shape {dims} of "
                             f"{dtype.str}, found {found} (truncated or padded file)")
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | Path, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when ``compress`` or the name ends .gz).

    Parameters
    ----------
    path : str or Path
        Destination.
    array : np.ndarray
        Data of a dtype the format knows (uint8, int8, int16, int32, float32, float64).
    compress : bool, optional
        Defaults to ``path`` ending with ``.gz``.

    Returns
    -------
    Path
        The written path.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dt.newbyteorder("=").str: c for c, dt in IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes:
        raise TypeError(f"write_idx: dtype {array.dtype} has no IDX type code")
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path
