"""DataLoader: batches from a dataset through a sampler and a collate function, with PyTorch's
arguments and semantics. Data loads in the calling process."""
import collections.abc

import numpy as np

from .._creation import tensor, from_numpy
from .._dtype import to_dtype, int64
from .._tensor import Tensor
from ..ops.indexing import index_select
from ..ops.shape import stack
from .dataset import IterableDataset, TensorDataset, Subset
from .sampler import SequentialSampler, RandomSampler, BatchSampler


def _array_to_tensor(arr):
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"default_collate: NumPy arrays of dtype {arr.dtype} cannot become tensors")
    try:
        to_dtype(arr.dtype)
    except TypeError:
        return tensor(arr)  # unsigned and narrow ints widen to int64, as lamina.tensor does
    return from_numpy(arr)


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _rebuild_sequence(elem, items):
    if _is_namedtuple(elem):
        return type(elem)(*items)
    if isinstance(elem, tuple):
        return items  # PyTorch returns a list for tuples too
    try:
        return type(elem)(items)
    except TypeError:
        return items


def _rebuild_mapping(elem, items):
    try:
        return type(elem)(items)
    except TypeError:
        return items


def default_collate(batch):
    """Merges a list of samples into a batch: tensors, NumPy arrays and numbers are stacked into
    tensors with a new first dimension (Python floats become float64, ints int64, bools bool);
    dicts, lists and tuples are collated field by field; strings stay a list."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(batch)
    if isinstance(elem, np.ndarray):
        return _array_to_tensor(np.stack(batch))
    if isinstance(elem, np.generic):
        return _array_to_tensor(np.array(batch))
    if isinstance(elem, bool):
        return tensor(batch)
    if isinstance(elem, int):
        return tensor(batch, dtype=int64)
    if isinstance(elem, float):
        return tensor(batch, dtype="float64")
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _rebuild_mapping(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return _rebuild_sequence(elem, [default_collate(list(s)) for s in zip(*batch)])
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
                    f"found {type(elem).__name__}")


def default_convert(data):
    """What an unbatched loader (``batch_size=None``) yields: NumPy arrays and scalars become
    tensors, containers are converted element by element, everything else is unchanged."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "biuf":
        return _array_to_tensor(data)
    if isinstance(data, np.generic) and data.dtype.kind in "biuf":
        return _array_to_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        return _rebuild_mapping(data, {key: default_convert(v) for key, v in data.items()})
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        return _rebuild_sequence(data, [default_convert(d) for d in data])
    return data


def _tensor_rows(dataset):
    """``(TensorDataset, [Subset, ...])`` when ``dataset`` is a TensorDataset, possibly under
    Subsets, whose samples are plain rows; else None. Batches from it are gathered directly."""
    chain = []
    while isinstance(dataset, Subset) and type(dataset).__getitem__ is Subset.__getitem__:
        chain.append(dataset)
        dataset = dataset.dataset
    if type(dataset).__getitem__ is TensorDataset.__getitem__ and isinstance(dataset, TensorDataset):
        return dataset, chain
    return None


class DataLoader:
    """Iterates over ``dataset`` in batches.

    ``shuffle=True`` draws a new order every epoch (from ``generator``, a NumPy Generator, or
    from lamina's default generator, so ``lamina.manual_seed`` makes it reproducible).
    ``batch_size=None`` yields single samples. ``sampler`` / ``batch_sampler`` replace the
    default index order / grouping. ``num_workers`` and ``pin_memory`` are accepted for
    compatibility; loading always happens in the calling process.

    A ``TensorDataset`` (also under ``Subset`` s) with the default collate function is batched
    by one ``index_select`` per tensor instead of stacking per-sample rows."""

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None, num_workers=0,
                 collate_fn=None, pin_memory=False, drop_last=False, *, generator=None):
        if isinstance(dataset, IterableDataset):
            if shuffle not in (None, False):
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified shuffle option, "
                                 f"but got shuffle={shuffle}")
            if sampler is not None or batch_sampler is not None:
                raise ValueError("DataLoader with IterableDataset: samplers do not apply to an IterableDataset")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, shuffle, sampler, "
                                 "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually exclusive with drop_last")
        if not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers option should be non-negative; got {num_workers!r}")
        self.dataset, self.batch_size, self.drop_last, self.generator = dataset, batch_size, drop_last, generator
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self._iterable = isinstance(dataset, IterableDataset)
        if not self._iterable:
            if sampler is None:
                sampler = RandomSampler(dataset, generator=generator) if shuffle else SequentialSampler(dataset)
            if batch_size is not None and batch_sampler is None:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        elif batch_size is not None and (not isinstance(batch_size, int) or batch_size <= 0):
            raise ValueError(f"batch_size should be a positive integer, got {batch_size!r}")
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._default_collate = collate_fn is None
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)

    @property
    def _auto_collation(self):
        return self.batch_sampler is not None or (self._iterable and self.batch_size is not None)

    def __iter__(self):
        if self._iterable:
            return self._iter_stream()
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        rows = _tensor_rows(self.dataset) if self._default_collate else None
        if rows is not None:
            return self._iter_gather(*rows)
        fetch = getattr(self.dataset, "__getitems__", None)
        return (self.collate_fn(fetch(idx) if fetch else [self.dataset[i] for i in idx])
                for idx in self.batch_sampler)

    def _iter_gather(self, base, chain):
        n = len(base)
        for idx in self.batch_sampler:
            for sub in chain:
                idx = [sub.indices[int(i)] for i in idx]
            index = tensor([int(i) + n if int(i) < 0 else int(i) for i in idx], dtype=int64)
            yield [index_select(t, 0, index) for t in base.tensors]

    def _iter_stream(self):
        if self.batch_size is None:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)
