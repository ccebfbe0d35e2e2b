"""The safetensors file format, read and written without the ``safetensors`` package.

Layout: an 8-byte little-endian header length ``n``; ``n`` bytes of UTF-8 JSON mapping each
tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the
data section) plus an optional ``"__metadata__"`` map of strings to strings; then the raw
little-endian tensor bytes. Files written here pad the header with spaces to a multiple of 8
and order tensors by decreasing element size, so every tensor starts on an address aligned to
its element size.

Writing is atomic (a temporary file in the target's directory, fsync, ``os.replace``). Reading
checks the whole header against the file's size before allocating anything, so a truncated or
hostile file raises ``ValueError`` instead of crashing or asking for absurd amounts of memory.
"""
import json
import os
import secrets
import stat
import sys

import numpy as np

from .._dtype import bool_, int32, int64, float16, bfloat16, float32, float64
from .._device import to_device
from .._tensor import Tensor
from .._creation import empty, from_numpy

# safetensors names <-> lamina dtypes (the ones lamina can hold).
_CODES = {"F64": float64, "F32": float32, "F16": float16, "BF16": bfloat16, "I64": int64, "I32": int32, "BOOL": bool_}
_NAMES = {d.name: code for code, d in _CODES.items()}
# Defined by the format but with no lamina dtype: named in the error instead of "unknown".
_UNSUPPORTED = ("F8_E4M3", "F8_E5M2", "I8", "U8", "I16", "U16", "U32", "U64", "C64")
_METADATA = "__metadata__"
# The reference implementation refuses larger headers too; a bigger one is not a real file.
MAX_HEADER_BYTES = 100 * 1024 * 1024


def _source_name(f):
    return os.fspath(f) if isinstance(f, (str, bytes, os.PathLike)) else getattr(f, "name", repr(f))


def _fail(name, problem):
    raise ValueError(f"[safetensors] {name}: {problem}")


# ---------------------------------------------------------------- writing

def _as_array(name, value):
    """A C-contiguous little-endian NumPy array with ``value``'s bytes, and its format code.

    bfloat16 has no NumPy dtype: its bits are the top half of the float32 it widens to exactly."""
    if isinstance(value, Tensor):
        t = value.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        if t.dtype is bfloat16:
            bits = np.array(t.float().numpy(), dtype="<f4", order="C").view("<u4")
            return np.asarray(bits >> 16, dtype="<u2"), "BF16"
        arr, dt = t.numpy(), t.dtype
    elif isinstance(value, np.ndarray):
        arr = value
        try:
            dt = next(d for d in _CODES.values() if d is not bfloat16 and
                      (d.numpy_dtype.kind, d.itemsize) == (arr.dtype.kind, arr.dtype.itemsize))
        except StopIteration:
            raise TypeError(f"[save_file] {name!r}: NumPy dtype {arr.dtype} has no lamina equivalent") from None
    else:
        raise TypeError(f"[save_file] {name!r}: expected a lamina.Tensor or numpy.ndarray, got {type(value).__name__}")
    return _c_order(arr.astype(dt.numpy_dtype.newbyteorder("<"), copy=False)), _NAMES[dt.name]


def _c_order(arr):
    # Not np.ascontiguousarray: it turns 0-d arrays into 1-d ones.
    return arr if arr.flags.c_contiguous else arr.copy(order="C")


def _layout(tensors, metadata):
    """(header bytes, list of arrays in file order) for ``tensors``; the header is padded to 8."""
    if not isinstance(tensors, dict):
        raise TypeError(f"[save_file] expected a dict of name -> tensor, got {type(tensors).__name__}")
    entries = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"[save_file] tensor names must be str, got {name!r}")
        if name == _METADATA:
            raise ValueError(f"[save_file] {_METADATA!r} is reserved for metadata and cannot name a tensor")
        arr, code = _as_array(name, value)
        entries.append((name, arr, code))
    header = {}
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                     for k, v in metadata.items()):
            raise TypeError("[save_file] metadata must be a dict of str -> str")
        header[_METADATA] = metadata
    # The header keeps the caller's order; the data goes widest elements first, so each tensor
    # starts at a multiple of its own element size.
    for name, arr, code in entries:
        header[name] = {"dtype": code, "shape": list(arr.shape)}
    entries.sort(key=lambda e: -e[1].itemsize)
    offset = 0
    for name, arr, _ in entries:
        header[name]["data_offsets"] = [offset, offset + arr.nbytes]
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return text, [arr for _, arr, _ in entries]


def _write_chunk(f, data):
    f.write(data)


def _write_all(f, header, arrays):
    _write_chunk(f, len(header).to_bytes(8, "little"))
    _write_chunk(f, header)
    for arr in arrays:
        if arr.nbytes:
            _write_chunk(f, memoryview(arr.reshape(-1)).cast("B"))


def atomic_write(path, write):
    """Calls ``write(fileobj)`` on a temporary file beside ``path`` and renames it onto ``path``.

    The rename happens only after the bytes are flushed and fsynced, so ``path`` holds either its
    old content or the complete new one, whatever fails or crashes in between; the directory is
    fsynced after the rename so the new name survives a power loss. Like ``open(path, "wb")``, a
    symlink is written through to its target, an existing file keeps its permission bits and a
    new one gets 0o666 less the umask."""
    path = os.path.realpath(os.fspath(path))
    directory, base = os.path.split(path)
    tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            if os.path.exists(path):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def save_file(tensors, filename, metadata=None):
    """Writes a dict of name -> tensor (lamina tensors or NumPy arrays) as a safetensors file.

    Tensors are written contiguous whatever their strides, CUDA tensors are copied to the host.
    ``metadata`` is an optional dict of str -> str stored in the header. ``filename`` may also be
    a writable binary file object; a path is written atomically (see :func:`atomic_write`)."""
    header, arrays = _layout(tensors, metadata)
    if hasattr(filename, "write"):
        _write_all(filename, header, arrays)
    else:
        atomic_write(filename, lambda f: _write_all(f, header, arrays))


def save(tensors, metadata=None):
    """The bytes of the safetensors file :func:`save_file` would write."""
    import io
    buf = io.BytesIO()
    save_file(tensors, buf, metadata)
    return buf.getvalue()


# ---------------------------------------------------------------- reading

def _int(x):
    return isinstance(x, int) and not isinstance(x, bool)


def _parse_header(name, raw, data_size):
    """Validated ``(metadata, [(tensor name, dtype, shape, begin, end)])`` from header bytes."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        _fail(name, f"header is not UTF-8 ({e})")

    duplicates = []

    def note_duplicates(pairs):
        out = dict(pairs)
        if len(out) != len(pairs):
            duplicates.append(pairs)
        return out
    try:
        header = json.loads(text, object_pairs_hook=note_duplicates)
    except (ValueError, RecursionError) as e:  # ValueError also covers ints too long to convert
        _fail(name, f"header is not valid JSON ({e})")
    if duplicates:
        _fail(name, "header has duplicate keys")
    if not isinstance(header, dict):
        _fail(name, f"header must be a JSON object, got {type(header).__name__}")
    metadata = header.pop(_METADATA, None)
    if metadata is not None and (not isinstance(metadata, dict) or
                                 not all(isinstance(v, str) for v in metadata.values())):
        _fail(name, f"{_METADATA} must map strings to strings")
    entries = []
    for key, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            _fail(name, f"entry {key!r} must hold exactly 'dtype', 'shape' and 'data_offsets', got {info!r:.200}")
        code, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if code not in _CODES:
            if code in _UNSUPPORTED:
                _fail(name, f"tensor {key!r} has dtype {code}, which lamina does not support "
                            f"(supported: {', '.join(_CODES)})")
            _fail(name, f"tensor {key!r} has unknown dtype {code!r:.40}")
        if not isinstance(shape, list) or not all(_int(s) for s in shape):
            _fail(name, f"tensor {key!r} has a malformed shape {shape!r:.200}")
        if any(s < 0 for s in shape):
            _fail(name, f"tensor {key!r} has a negative dimension in shape {shape}")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_int(o) for o in offsets)):
            _fail(name, f"tensor {key!r} has malformed data_offsets {offsets!r:.200}")
        begin, end = offsets
        if not 0 <= begin <= end <= data_size:
            _fail(name, f"tensor {key!r} has data_offsets {offsets} outside the {data_size}-byte data section")
        numel = 1
        for s in shape:
            numel *= s
        dt = _CODES[code]
        if numel * dt.itemsize != end - begin:
            _fail(name, f"tensor {key!r} of dtype {code} and shape {shape} needs {numel * dt.itemsize} bytes "
                        f"but its data_offsets {offsets} span {end - begin}")
        entries.append((key, dt, shape, begin, end))
    covered = 0
    for key, _, _, begin, end in sorted(entries, key=lambda e: (e[3], e[4])):
        if begin != covered:
            what = "overlaps the previous tensor" if begin < covered else f"leaves a gap at byte {covered}"
            _fail(name, f"tensor {key!r} at data_offsets {[begin, end]} {what}")
        covered = end
    if covered != data_size:
        _fail(name, f"tensors cover {covered} bytes but the data section holds {data_size}")
    return metadata, entries


def _read_exact(f, name, buf, what):
    view = memoryview(buf).cast("B")
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            _fail(name, f"file ended while reading {what}")
        got += n


def _read_tensor(f, name, key, dt, shape, nbytes):
    """A tensor owning fresh memory, filled straight from the file (no intermediate copy)."""
    if dt is bfloat16:
        bits = np.empty(shape, dtype="<u2")
        if nbytes:
            _read_exact(f, name, bits, f"tensor {key!r}")
        wide = bits.astype(np.uint32)
        wide <<= 16
        return from_numpy(wide.view(np.float32)).to(bfloat16)
    t = empty(*shape, dtype=dt)
    if nbytes:
        arr = t.numpy()
        _read_exact(f, name, arr, f"tensor {key!r}")
        if sys.byteorder == "big":
            arr.byteswap(inplace=True)
        if dt is bool_ and arr.view(np.uint8).max() > 1:
            _fail(name, f"tensor {key!r} of dtype BOOL holds bytes other than 0 and 1")
    return t


def _read(f, name, device):
    start = f.tell()
    size = f.seek(0, os.SEEK_END) - start
    f.seek(start)
    if size < 8:
        _fail(name, f"file is {size} bytes, too short to hold the 8-byte header length")
    head = bytearray(8)
    _read_exact(f, name, head, "the header length")
    n = int.from_bytes(head, "little")
    if n > size - 8:
        _fail(name, f"header length {n} is larger than the rest of the file ({size - 8} bytes); truncated or corrupt")
    if n > MAX_HEADER_BYTES:
        _fail(name, f"header length {n} exceeds the {MAX_HEADER_BYTES}-byte limit")
    raw = bytearray(n)
    _read_exact(f, name, raw, "the header")
    metadata, entries = _parse_header(name, bytes(raw), size - 8 - n)
    data_start = start + 8 + n
    dev = to_device(device)
    tensors = {}
    for key, dt, shape, begin, end in sorted(entries, key=lambda e: e[3]):
        f.seek(data_start + begin)
        t = _read_tensor(f, name, key, dt, shape, end - begin)
        tensors[key] = t if dev.type == "cpu" else t.to(dev)
    # The header's order, which is the order the writer's dict had.
    return {key: tensors[key] for key, *_ in entries}, metadata


def read_file(filename, device="cpu"):
    """``(tensors, metadata)`` from a safetensors file: a dict name -> lamina.Tensor in the file's
    order and the header's ``__metadata__`` dict (None when absent).

    ``filename`` is a path or a readable, seekable binary file object. Raises ``ValueError``
    naming the file and the problem when the file is truncated, corrupt or inconsistent."""
    if hasattr(filename, "read"):
        return _read(filename, _source_name(filename), device)
    with open(filename, "rb") as f:
        return _read(f, _source_name(filename), device)


def load_file(filename, device="cpu"):
    """A dict name -> lamina.Tensor from a safetensors file (written by lamina or any other tool).

    Every tensor owns its memory (nothing maps the file), so the file may be replaced or deleted
    afterwards."""
    return read_file(filename, device)[0]


def load(data, device="cpu"):
    """A dict name -> lamina.Tensor from the bytes of a safetensors file."""
    import io
    return read_file(io.BytesIO(data), device)[0]
