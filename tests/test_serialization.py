"""lamina.save / lamina.load and lamina.io: the safetensors layout (checked by an independent
parser), round trips for every dtype, interop with the safetensors package, atomic writes and
malformed files."""
import io
import json
import math
import os
import struct

import numpy as np
import pytest

import lamina
import lamina.io.safetensors as st

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]
CODES = {"float32": "F32", "float64": "F64", "float16": "F16", "bfloat16": "BF16", "int64": "I64", "int32": "I32",
         "bool": "BOOL"}


def _random(rng, shape, name):
    if name == "bool":
        return lamina.tensor(rng.random(shape) < 0.5)
    if name.startswith("int"):
        return lamina.tensor(rng.integers(-2**30, 2**30, shape), dtype=name)
    return lamina.tensor(rng.standard_normal(shape) * 100, dtype="float64").to(getattr(lamina, name))


def _bits(t):
    """The tensor's values as exactly comparable NumPy data (bfloat16 widens exactly)."""
    t = t.detach()
    return (t.float() if t.dtype is lamina.bfloat16 else t).numpy().copy()


def assert_same(a, b):
    assert isinstance(b, lamina.Tensor)
    assert a.dtype is b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(_bits(a), _bits(b))


def parse(path):
    """An independent reader of the safetensors layout: (header dict, data bytes)."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    return header, raw[8 + n:], n


@pytest.mark.parametrize("name", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3, 0, 2), (1,), (7,), (3, 5)])
def test_round_trip_every_dtype(tmp_path, rng, name, shape):
    x = _random(rng, shape, name)
    p = tmp_path / "t.safetensors"
    lamina.save({"x": x}, p)
    assert_same(x, lamina.load(p)["x"])
    lamina.save(x, p)  # a bare tensor goes through the structured path
    assert_same(x, lamina.load(p))


def test_special_float_values_survive(tmp_path):
    vals = [math.nan, math.inf, -math.inf, -0.0, 1e-40, 65504.0]
    for name in ("float32", "float64", "float16", "bfloat16"):
        x = lamina.tensor(vals, dtype="float64").to(getattr(lamina, name))
        y = lamina.load(_saved(tmp_path, {"x": x}))["x"]
        np.testing.assert_array_equal(np.signbit(_bits(x)), np.signbit(_bits(y)))
        np.testing.assert_array_equal(_bits(x), _bits(y))


def _saved(tmp_path, obj):
    p = tmp_path / "obj.safetensors"
    lamina.save(obj, p)
    return p


@pytest.mark.parametrize("name", DTYPES)
def test_non_contiguous_tensors_are_saved_contiguous(tmp_path, rng, name):
    base = _random(rng, (6, 5), name)
    views = {"t": base.t(), "step": base[::2, 1::2], "flip": base.flip(0), "col": base[:, 3]}
    p = _saved(tmp_path, views)
    header, data, _ = parse(p)
    out = lamina.load(p)
    for k, v in views.items():
        assert not v.is_contiguous() or k == "flip"
        assert_same(v, out[k])
        assert out[k].is_contiguous()
        assert header[k]["shape"] == list(v.shape)


def test_flat_state_dict_layout_matches_independent_parser(tmp_path, rng):
    sd = {"weight": _random(rng, (3, 4), "float32"), "bias": _random(rng, (4,), "float64"),
          "steps": _random(rng, (2,), "int32"), "mask": _random(rng, (5,), "bool"),
          "half": _random(rng, (3,), "bfloat16")}
    p = _saved(tmp_path, sd)
    header, data, n = parse(p)
    assert n % 8 == 0
    assert "__metadata__" not in header  # plain file: other readers see exactly the dict
    assert list(header) == list(sd)
    spans = []
    for k, t in sd.items():
        e = header[k]
        assert e["dtype"] == CODES[t.dtype.name] and e["shape"] == list(t.shape)
        b, end = e["data_offsets"]
        assert b % t.element_size() == 0  # aligned to its element size
        spans.append((b, end))
        chunk = data[b:end]
        if t.dtype is lamina.bfloat16:
            ref = (np.asarray(_bits(t), "<f4").view("<u4") >> 16).astype("<u2").tobytes()
        else:
            ref = np.asarray(_bits(t)).astype(np.dtype(t.dtype.numpy_dtype).newbyteorder("<")).tobytes()
        assert chunk == ref
    spans.sort()
    assert spans[0][0] == 0 and spans[-1][1] == len(data)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    out = lamina.load(p)
    assert list(out) == list(sd)
    for k in sd:
        assert_same(sd[k], out[k])


def test_nested_structure_with_int_keys(tmp_path, rng):
    shared = _random(rng, (2, 2), "float32")
    obj = {
        "model": {"layer.weight": _random(rng, (3, 2), "float32"), "layer.bias": _random(rng, (3,), "float16")},
        "optim": {"state": {0: {"step": 3, "exp_avg": _random(rng, (3, 2), "float32")},
                            1: {"step": 3, "exp_avg": _random(rng, (3,), "float32")}},
                  "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                                    "foreach": None}]},
        "epoch": 7, "loss": 0.25, "name": "run-ü", "big": 2**70, "neg": -3, "nan": math.nan,
        "tuple": (1, "a", (shared, shared)), "empty": {}, "empty_list": [], "none": None,
        (1, "k"): "tuple key", 2.5: "float key", True: "bool key",
        "dtype": lamina.bfloat16, "device": lamina.device("cpu"), "array": np.arange(6, dtype=np.int32).reshape(2, 3),
    }
    out = lamina.load(_saved(tmp_path, obj))
    assert set(out) == set(obj)
    assert set(out["optim"]["state"]) == {0, 1} and all(type(k) is int for k in out["optim"]["state"])
    assert out["optim"]["state"][0]["step"] == 3 and type(out["optim"]["state"][0]["step"]) is int
    assert_same(obj["optim"]["state"][1]["exp_avg"], out["optim"]["state"][1]["exp_avg"])
    assert out["optim"]["param_groups"] == [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "amsgrad": False,
                                              "foreach": None}]
    for k in ("layer.weight", "layer.bias"):
        assert_same(obj["model"][k], out["model"][k])
    for k in ("epoch", "loss", "name", "big", "neg", "empty", "empty_list", "none", (1, "k"), 2.5, True):
        assert out[k] == obj[k] and type(out[k]) is type(obj[k])
    assert math.isnan(out["nan"])
    assert isinstance(out["tuple"], tuple) and out["tuple"][:2] == (1, "a")
    assert out["tuple"][2][0] is out["tuple"][2][1]  # one tensor saved once, loaded as one object
    assert_same(shared, out["tuple"][2][0])
    assert out["dtype"] is lamina.bfloat16 and out["device"] == lamina.device("cpu")
    assert isinstance(out["array"], np.ndarray) and out["array"].dtype == np.int32
    np.testing.assert_array_equal(out["array"], obj["array"])


def test_structured_file_is_still_plain_safetensors(tmp_path, rng):
    obj = {"state": {0: {"exp_avg": _random(rng, (2,), "float32")}}, "lr": 0.1}
    header, data, _ = parse(_saved(tmp_path, obj))
    tree = json.loads(header["__metadata__"]["lamina"])
    assert tree["format"] == 1
    names = [k for k in header if k != "__metadata__"]
    assert names == ["state.0.exp_avg"]


def test_colliding_paths_get_distinct_names(tmp_path, rng):
    a, b = _random(rng, (2,), "float32"), _random(rng, (3,), "float32")
    out = lamina.load(_saved(tmp_path, {"a.b": a, "a": {"b": b}, "x": [1]}))
    assert_same(a, out["a.b"])
    assert_same(b, out["a"]["b"])


def test_loaded_tensors_own_memory_and_do_not_require_grad(tmp_path, rng):
    w = _random(rng, (4, 3), "float32").requires_grad_()
    p = _saved(tmp_path, {"w": w})
    out = lamina.load(p)["w"]
    assert out.requires_grad is False and out.grad_fn is None
    os.remove(p)
    lamina.save({"w": lamina.zeros(4, 3)}, p)  # the file is replaced: the loaded tensor is unaffected
    np.testing.assert_array_equal(out.numpy(), w.detach().numpy())


def test_map_location(tmp_path, rng):
    x = _random(rng, (3,), "float32")
    p = _saved(tmp_path, {"x": x})
    for loc in (None, "cpu", lamina.device("cpu")):
        assert lamina.load(p, map_location=loc)["x"].device == lamina.device("cpu")
    with pytest.raises(TypeError, match="map_location"):
        lamina.load(p, map_location=3.5)
    if lamina.cuda.is_available():
        y = lamina.load(p, map_location="cuda")["x"]
        assert y.is_cuda
        assert_same(x, y.cpu())


def test_file_objects(rng):
    obj = {"a": [_random(rng, (2, 3), "float64")], "b": 1}
    buf = io.BytesIO()
    lamina.save(obj, buf)
    buf.seek(0)
    out = lamina.load(buf)
    assert out["b"] == 1
    assert_same(obj["a"][0], out["a"][0])


def test_io_helpers_and_metadata(tmp_path, rng):
    t = {"a": _random(rng, (3,), "int64"), "b": np.arange(4, dtype=np.float32)}
    p = tmp_path / "m.safetensors"
    lamina.io.save_file(t, p, metadata={"format": "pt", "note": "ü"})
    tensors, meta = lamina.io.read_file(p)
    assert meta == {"format": "pt", "note": "ü"}
    assert_same(t["a"], tensors["a"])
    np.testing.assert_array_equal(tensors["b"].numpy(), t["b"])
    assert set(lamina.io.load_file(p)) == {"a", "b"}
    assert list(lamina.io.load(lamina.io.save(t))) == ["a", "b"]
    with pytest.raises(TypeError, match="metadata"):
        lamina.io.save_file(t, p, metadata={"k": 1})
    with pytest.raises(TypeError, match="str"):
        lamina.io.save_file({1: t["a"]}, p)
    with pytest.raises(TypeError, match="uint16"):
        lamina.io.save_file({"u": np.zeros(2, np.uint16)}, p)


def test_save_rejects_what_it_cannot_store(tmp_path):
    with pytest.raises(TypeError, match="object"):
        lamina.save({"f": object()}, tmp_path / "x")
    with pytest.raises(TypeError, match="state_dict"):
        lamina.save(_WithState(), tmp_path / "x")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        lamina.save(loop, tmp_path / "x")
    assert not os.listdir(tmp_path)


class _WithState:
    def state_dict(self):
        return {}


# ---------------------------------------------------------------- atomic writes

def _fail_after(monkeypatch, limit):
    written = [0]
    real = st._write_chunk

    def chunk(f, data):
        n = len(memoryview(data).cast("B"))
        if written[0] + n > limit:
            real(f, bytes(memoryview(data).cast("B")[:limit - written[0]]))
            raise OSError("disk full (simulated)")
        written[0] += n
        real(f, data)
    monkeypatch.setattr(st, "_write_chunk", chunk)


@pytest.mark.parametrize("limit", [0, 5, 100, 600])
def test_failed_write_leaves_old_file_intact(tmp_path, monkeypatch, rng, limit):
    p = tmp_path / "ckpt.safetensors"
    lamina.save({"old": lamina.arange(10)}, p)
    before = p.read_bytes()
    _fail_after(monkeypatch, limit)
    with pytest.raises(OSError, match="simulated"):
        lamina.save({"new": _random(rng, (50, 50), "float32"), "meta": {0: 1}}, p)
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind
    monkeypatch.undo()
    assert_same(lamina.arange(10), lamina.load(p)["old"])


def test_interrupted_write_creates_nothing(tmp_path, monkeypatch):
    def interrupt(f, data):
        raise KeyboardInterrupt
    monkeypatch.setattr(st, "_write_chunk", interrupt)
    with pytest.raises(KeyboardInterrupt):
        lamina.save({"x": lamina.ones(3)}, tmp_path / "new.safetensors")
    assert os.listdir(tmp_path) == []


def test_written_file_has_ordinary_permissions(tmp_path):
    p = tmp_path / "perm.safetensors"
    lamina.save({"x": lamina.ones(2)}, p)
    with open(tmp_path / "ref", "wb"):
        pass
    assert os.stat(p).st_mode & 0o777 == os.stat(tmp_path / "ref").st_mode & 0o777
    os.chmod(p, 0o640)
    lamina.save({"x": lamina.zeros(2)}, p)  # replacing keeps the existing file's mode
    assert os.stat(p).st_mode & 0o777 == 0o640


def test_save_writes_through_symlinks(tmp_path):
    target = tmp_path / "ckpt-1.safetensors"
    link = tmp_path / "latest.safetensors"
    lamina.save({"x": lamina.ones(2)}, target)
    os.symlink(target.name, link)
    lamina.save({"x": lamina.zeros(2)}, link)
    assert os.path.islink(link)
    assert lamina.load(target)["x"].tolist() == [0.0, 0.0]


# ---------------------------------------------------------------- malformed files

def _file(header, data=b"", pad=True, length=None):
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    if pad:
        raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


_GOOD = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}


def _structured(tree):
    return _file({"__metadata__": {"lamina": json.dumps(tree) if not isinstance(tree, str) else tree}, **_GOOD},
                 bytes(8))


MALFORMED = {
    "empty file": (b"", "too short"),
    "short length": (b"\x01\x02\x03", "too short"),
    "header longer than file": (_file(_GOOD, bytes(8), length=10_000), "larger than the rest"),
    "absurd header length": (struct.pack("<Q", 2**63 + 5) + b"{}", "larger than the rest"),
    "header not utf-8": (_file(b"\xff\xfe{}"), "UTF-8"),
    "header not json": (_file(b"{not json"), "not valid JSON"),
    "header a list": (_file([1, 2]), "JSON object"),
    "duplicate names": (_file(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                              b'"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', bytes(4)), "duplicate"),
    "missing field": (_file({"a": {"dtype": "F32", "shape": [2]}}, bytes(8)), "exactly"),
    "unknown dtype": (_file({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)), "unknown dtype"),
    "unsupported dtype": (_file({"a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]}}, bytes(8)),
                          "does not support"),
    "negative dim": (_file({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8)), "negative"),
    "float dim": (_file({"a": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}}, bytes(8)), "shape"),
    "integer too long to parse": (_file(b'{"a":{"dtype":"F32","shape":[' + b"9" * 5000 + b'],"data_offsets":[0,8]}}',
                                       bytes(8)), "not valid JSON"),
    "bool dim": (_file({"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}}, bytes(8)), "shape"),
    "offsets past the data": (_file({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
                              "outside"),
    "offsets reversed": (_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}}, bytes(8)), "outside"),
    "offsets malformed": (_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}, bytes(8)), "malformed"),
    "overlapping": (_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)), "overlaps"),
    "gap": (_file({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)), "gap"),
    "trailing bytes not covered": (_file(_GOOD, bytes(12)), "cover 8 bytes"),
    "size inconsistent with dtype": (_file({"a": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}, bytes(8)),
                                     "needs 16 bytes"),
    "absurd shape": (_file({"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, bytes(8)),
                     "needs"),
    "truncated data": (_file(_GOOD, bytes(4)), "outside"),
    "metadata not strings": (_file({"__metadata__": {"k": 1}, **_GOOD}, bytes(8)), "__metadata__"),
    "bool bytes not 0/1": (_file({"a": {"dtype": "BOOL", "shape": [2], "data_offsets": [0, 2]}}, b"\x01\x07"),
                           "other than 0 and 1"),
    "structure not json": (_structured("{oops"), "not valid JSON"),
    "structure wrong format": (_structured({"format": 99, "tree": 1}), "unsupported structure format"),
    "structure refers to a missing tensor": (_structured({"format": 1, "tree": {"tensor": "zz"}}), "does not hold"),
    "structure unknown node": (_structured({"format": 1, "tree": {"pickle": "os.system"}}), "unknown structure node"),
    "structure unhashable key": (_structured({"format": 1, "tree": {"dict": [[{"list": []}, 1]]}}), "unhashable"),
    "structure too deep": (_structured('{"format":1,"tree":' + '{"list":[' * 5000 + ']}' * 5000 + '}'), "deep|JSON"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_files_raise_value_error(tmp_path, case):
    raw, match = MALFORMED[case]
    p = tmp_path / "bad.safetensors"
    p.write_bytes(raw)
    with pytest.raises(ValueError, match=match) as info:
        lamina.load(p)
    assert "bad.safetensors" in str(info.value)


def test_truncation_anywhere_raises_value_error(tmp_path, rng):
    good = _saved(tmp_path, {"w": _random(rng, (3, 3), "float32"), "s": {0: _random(rng, (2,), "int64")}}).read_bytes()
    p = tmp_path / "cut.safetensors"
    for cut in sorted({0, 7, 8, 9, 20, len(good) // 2, len(good) - 9, len(good) - 1}):
        p.write_bytes(good[:cut])
        with pytest.raises(ValueError):
            lamina.load(p)


def test_random_corruption_never_crashes(tmp_path, rng):
    good = bytearray(_saved(tmp_path, {"w": _random(rng, (4,), "float32"), "o": {1: [2, 3]}}).read_bytes())
    p = tmp_path / "flip.safetensors"
    for _ in range(200):
        bad = bytearray(good)
        for i in rng.integers(0, len(bad), 3):
            bad[i] = int(rng.integers(0, 256))
        p.write_bytes(bytes(bad))
        try:
            lamina.load(p)
        except ValueError:
            pass


# ---------------------------------------------------------------- the safetensors package

def test_reads_files_written_by_safetensors_numpy(tmp_path, rng):
    stn = pytest.importorskip("safetensors.numpy")
    arrays = {"f32": rng.standard_normal((3, 4)).astype(np.float32), "f64": rng.standard_normal(5),
              "f16": rng.standard_normal((2, 2)).astype(np.float16), "i32": np.arange(6, dtype=np.int32),
              "i64": np.arange(-3, 3), "b": rng.random(7) < 0.5, "empty": np.zeros((0, 2), np.float32),
              "scalar": np.array(3.5, np.float32)}
    p = tmp_path / "np.safetensors"
    stn.save_file(arrays, str(p), metadata={"format": "np"})
    out = lamina.load(p)
    assert set(out) == set(arrays)
    for k, a in arrays.items():
        assert out[k].dtype.numpy_dtype == a.dtype and tuple(out[k].shape) == a.shape
        np.testing.assert_array_equal(out[k].numpy(), a)


def test_safetensors_numpy_reads_lamina_files(tmp_path, rng):
    stn = pytest.importorskip("safetensors.numpy")
    t = {n: _random(rng, (3, 2), n) for n in DTYPES if n != "bfloat16"}
    t["nc"] = _random(rng, (4, 3), "float32").t()
    p = _saved(tmp_path, t)
    out = stn.load_file(str(p))
    for k, v in t.items():
        np.testing.assert_array_equal(out[k], _bits(v))


def test_bfloat16_with_safetensors_torch(tmp_path, rng):
    pytest.importorskip("safetensors")
    torch = pytest.importorskip("torch")
    stt = pytest.importorskip("safetensors.torch")
    src = torch.tensor(rng.standard_normal((3, 5)), dtype=torch.float32).to(torch.bfloat16)
    p = tmp_path / "bf.safetensors"
    stt.save_file({"w": src, "i": torch.arange(4, dtype=torch.int32)}, str(p))
    out = lamina.load(p)
    assert out["w"].dtype is lamina.bfloat16
    np.testing.assert_array_equal(out["w"].float().numpy(), src.float().numpy())
    lamina.save({"w": out["w"], "x": _random(rng, (2,), "bfloat16")}, p)
    back = stt.load_file(str(p))
    assert back["w"].dtype == torch.bfloat16
    assert torch.equal(back["w"], src)
