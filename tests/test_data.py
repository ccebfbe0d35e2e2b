"""lamina.data: datasets, samplers, collation and the DataLoader, checked against
torch.utils.data where PyTorch is installed and against plain index arithmetic elsewhere."""
import collections

import numpy as np
import pytest

import lamina
from lamina.data import (DataLoader, Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, random_split,
                         SequentialSampler, RandomSampler, SubsetRandomSampler, BatchSampler, default_collate)


def _np(x):
    return x.detach().numpy() if isinstance(x, lamina.Tensor) else np.asarray(x)


def _dataset(n=10, rng=None):
    rng = rng or np.random.default_rng(0)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = np.arange(n)
    return x, y, TensorDataset(lamina.tensor(x), lamina.tensor(y))


class _Squares(Dataset):
    """A map-style dataset with dict samples (goes through default_collate)."""

    def __init__(self, n):
        self.n = n

    def __getitem__(self, i):
        return {"x": np.full(2, i, np.float32), "y": i * i, "name": f"s{i}"}

    def __len__(self):
        return self.n


class _Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_tensor_dataset():
    x, y, ds = _dataset(5)
    assert len(ds) == 5
    a, b = ds[3]
    np.testing.assert_array_equal(_np(a), x[3])
    assert b.item() == 3
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(lamina.zeros(3, 2), lamina.zeros(4))
    with pytest.raises(TypeError):
        TensorDataset(np.zeros(3))


@pytest.mark.parametrize("n,batch_size,drop_last", [(10, 1, False), (10, 3, False), (10, 3, True), (10, 5, True),
                                                    (10, 16, False), (10, 16, True), (0, 2, False), (1, 1, True)])
def test_batches_match_torch(n, batch_size, drop_last):
    torch = pytest.importorskip("torch")
    tdata = pytest.importorskip("torch.utils.data")
    x, y, ds = _dataset(n)
    ours = list(DataLoader(ds, batch_size=batch_size, drop_last=drop_last))
    ref_loader = tdata.DataLoader(tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                  batch_size=batch_size, drop_last=drop_last)
    ref = list(ref_loader)
    assert len(DataLoader(ds, batch_size=batch_size, drop_last=drop_last)) == len(ref_loader) == len(ours)
    for (a, b), (ra, rb) in zip(ours, ref):
        assert tuple(a.shape) == tuple(ra.shape) and tuple(b.shape) == tuple(rb.shape)
        assert a.dtype is lamina.float32 and b.dtype is lamina.int64
        np.testing.assert_array_equal(_np(a), ra.numpy())
        np.testing.assert_array_equal(_np(b), rb.numpy())


def test_gathered_batches_equal_stacked_samples():
    x, y, ds = _dataset(11)
    sub = Subset(Subset(ds, list(range(10, -1, -1))), [0, 2, 4, 6, 8, 10, 1])
    for data in (ds, sub):
        fast = list(DataLoader(data, batch_size=4))  # one index_select per tensor
        slow = list(DataLoader(data, batch_size=4, collate_fn=default_collate))  # samples stacked
        assert len(fast) == len(slow)
        for f, s in zip(fast, slow):
            assert isinstance(f, list) and isinstance(s, list)
            for a, b in zip(f, s):
                assert a.dtype is b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(_np(a), _np(b))
    assert [_np(b).tolist() for _, b in DataLoader(sub, batch_size=3)] == [[10, 8, 6], [4, 2, 0], [9]]


def test_shuffle_covers_every_index_once_per_epoch_and_reshuffles():
    _, _, ds = _dataset(50)
    loader = DataLoader(ds, batch_size=7, shuffle=True)
    orders = []
    for _ in range(3):
        order = np.concatenate([_np(b) for _, b in loader])
        assert sorted(order.tolist()) == list(range(50))
        orders.append(order.tolist())
    assert orders[0] != orders[1] != orders[2]


def test_shuffle_is_reproducible_with_manual_seed_and_generator():
    _, _, ds = _dataset(30)

    def epoch(loader):
        return np.concatenate([_np(b) for _, b in loader]).tolist()
    lamina.manual_seed(123)
    a = [epoch(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    lamina.manual_seed(123)
    b = [epoch(DataLoader(ds, batch_size=4, shuffle=True)) for _ in range(2)]
    assert a == b and a[0] != a[1]
    g1 = epoch(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(7)))
    lamina.manual_seed(999)  # the explicit generator does not depend on the global seed
    g2 = epoch(DataLoader(ds, batch_size=4, shuffle=True, generator=np.random.default_rng(7)))
    assert g1 == g2
    with pytest.raises(TypeError, match="generator"):
        list(DataLoader(ds, shuffle=True, generator=7))


def test_default_collate_matches_torch():
    torch = pytest.importorskip("torch")
    tdata = pytest.importorskip("torch.utils.data")
    Point = collections.namedtuple("Point", "a b")
    batch = [{"f": 1.5 * i, "i": i, "b": i % 2 == 0, "s": f"n{i}", "arr": np.arange(3, dtype=np.float32) + i,
              "np_scalar": np.int32(i), "tup": (i, [float(i), 2.0]), "pt": Point(i, np.float64(i))}
             for i in range(4)]

    def compare(ours, ref):
        if isinstance(ref, torch.Tensor):
            assert isinstance(ours, lamina.Tensor), type(ours)
            assert str(ref.dtype).replace("torch.", "") == ours.dtype.name
            np.testing.assert_array_equal(_np(ours), ref.numpy())
        elif isinstance(ref, dict):
            assert type(ours) is type(ref) and set(ours) == set(ref)
            for k in ref:
                compare(ours[k], ref[k])
        elif isinstance(ref, (list, tuple)):
            assert type(ours) is type(ref) and len(ours) == len(ref)
            for o, r in zip(ours, ref):
                compare(o, r)
        else:
            assert ours == ref
    compare(default_collate(batch), tdata.default_collate(batch))
    tensors = [lamina.tensor([i, i + 1]) for i in range(3)]
    np.testing.assert_array_equal(_np(default_collate(tensors)), [[0, 1], [1, 2], [2, 3]])
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])


def test_map_dataset_with_dict_samples():
    loader = DataLoader(_Squares(5), batch_size=2)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    assert batches[1]["y"].tolist() == [4, 9] and batches[1]["name"] == ["s2", "s3"]
    assert tuple(batches[2]["x"].shape) == (1, 2)


def test_unbatched_loader():
    x, _, ds = _dataset(4)
    items = list(DataLoader(ds, batch_size=None))
    assert len(items) == 4 and isinstance(items[0], list)  # PyTorch turns tuples into lists too
    np.testing.assert_array_equal(_np(items[2][0]), x[2])
    samples = list(DataLoader(_Squares(3), batch_size=None))
    assert isinstance(samples[1]["x"], lamina.Tensor) and samples[1]["y"] == 1
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)


def test_iterable_dataset():
    loader = DataLoader(_Stream(7), batch_size=3)
    assert [b.tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(loader) == 3
    dropped = DataLoader(_Stream(7), batch_size=3, drop_last=True)
    assert [b.tolist() for b in dropped] == [[0, 1, 2], [3, 4, 5]] and len(dropped) == 2
    assert list(DataLoader(_Stream(2), batch_size=None)) == [0, 1]
    with pytest.raises(ValueError, match="shuffle"):
        DataLoader(_Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="sampler"):
        DataLoader(_Stream(3), sampler=[0, 1])


def test_sampler_options_and_exclusions():
    x, y, ds = _dataset(10)
    batches = list(DataLoader(ds, batch_sampler=[[9, 0], [3, 3, 1]]))
    assert [_np(b).tolist() for _, b in batches] == [[9, 0], [3, 3, 1]]
    loader = DataLoader(ds, batch_size=4, sampler=SequentialSampler(range(10)))
    assert len(loader) == 3
    sub = DataLoader(ds, batch_size=2, sampler=SubsetRandomSampler([1, 5, 7]))
    assert sorted(np.concatenate([_np(b) for _, b in sub]).tolist()) == [1, 5, 7]
    for kwargs in ({"batch_size": 2}, {"shuffle": True}, {"sampler": [0]}, {"drop_last": True}):
        with pytest.raises(ValueError, match="mutually exclusive"):
            DataLoader(ds, batch_sampler=[[0]], **kwargs)
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(ds, shuffle=True, sampler=[0, 1])
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, batch_size=0)


def test_samplers():
    assert list(SequentialSampler(range(4))) == [0, 1, 2, 3]
    rs = RandomSampler(range(6), generator=np.random.default_rng(1))
    assert sorted(rs) == list(range(6)) and len(rs) == 6
    more = list(RandomSampler(range(4), num_samples=10, generator=np.random.default_rng(2)))
    assert len(more) == 10 and sorted(more[:4]) == [0, 1, 2, 3] and sorted(more[4:8]) == [0, 1, 2, 3]
    rep = list(RandomSampler(range(3), replacement=True, num_samples=50, generator=np.random.default_rng(3)))
    assert len(rep) == 50 and set(rep) <= {0, 1, 2}
    assert list(RandomSampler(range(0))) == []
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    bs = BatchSampler(SequentialSampler(range(7)), 3, drop_last=True)
    assert list(bs) == [[0, 1, 2], [3, 4, 5]] and len(bs) == 2
    with pytest.raises(ValueError, match="num_samples"):
        RandomSampler(range(3), num_samples=0)


def test_random_split_lengths_and_fractions():
    _, _, ds = _dataset(10)
    parts = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(parts[0].indices + parts[1].indices) == list(range(10))
    assert [len(p) for p in random_split(ds, [0.33, 0.33, 0.34])] == [4, 3, 3]
    assert [len(p) for p in random_split(range(5), [0.5, 0.5])] == [3, 2]
    again = random_split(ds, [3, 7], generator=np.random.default_rng(0))
    assert again[0].indices == parts[0].indices
    with pytest.raises(ValueError, match="sum of input lengths"):
        random_split(ds, [3, 3])
    with pytest.raises(ValueError, match="non-negative"):
        random_split(ds, [11, -1])


def test_random_split_sizes_match_torch():
    tdata = pytest.importorskip("torch.utils.data")
    for n, fracs in ((10, [0.33, 0.33, 0.34]), (7, [0.5, 0.5]), (13, [0.1, 0.2, 0.3, 0.4]), (4, [0.6, 0.4])):
        ours = [len(p) for p in random_split(range(n), fracs)]
        ref = [len(p) for p in tdata.random_split(range(n), fracs)]
        assert ours == ref, (n, fracs)


def test_subset_and_concat():
    x, y, ds = _dataset(6)
    sub = Subset(ds, [5, 1])
    assert len(sub) == 2 and sub[0][1].item() == 5
    cat = ConcatDataset([Subset(ds, [0, 1]), _Squares(3), Subset(ds, [4])])
    assert len(cat) == 6
    assert cat[2]["y"] == 0 and cat[4]["y"] == 4 and cat[5][1].item() == 4 and cat[-1][1].item() == 4
    assert cat[-6][1].item() == 0
    for bad in (6, -7):
        with pytest.raises(IndexError):
            cat[bad]
    plus = _Squares(2) + _Squares(3)
    assert isinstance(plus, ConcatDataset) and len(plus) == 5
    with pytest.raises(TypeError):
        ConcatDataset([_Stream(2)])
    loader = DataLoader(ConcatDataset([ds, ds]), batch_size=4, shuffle=True)
    assert sorted(np.concatenate([_np(b) for _, b in loader]).tolist()) == sorted(list(range(6)) * 2)
