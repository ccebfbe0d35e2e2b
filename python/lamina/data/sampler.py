"""Samplers: which dataset indices a DataLoader visits, in which order, and how they group into
batches. Randomness comes from a NumPy ``Generator`` passed as ``generator``, or else from a
NumPy generator seeded by lamina's default generator on each pass, so ``lamina.manual_seed``
makes shuffling reproducible and every epoch gets a fresh order."""
import numbers

import numpy as np

from .._creation import randint


def _rng(generator):
    if generator is None:
        hi, lo = randint(0, 1 << 31, (2,)).tolist()
        return np.random.default_rng((hi << 31) | lo)
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be None or a numpy.random.Generator, got {type(generator).__name__}")


def _permutation(n, generator):
    return _rng(generator).permutation(n)


class Sampler:
    """Base class: an iterable of dataset indices (or of index lists, for batch samplers)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


def _check_count(name, value):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{name} should be a positive integer, got {value!r}")
    return int(value)


class RandomSampler(Sampler):
    """A random permutation of the indices (each once per pass), or with ``replacement=True``
    ``num_samples`` independent uniform draws. Each ``iter()`` draws a new order."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, got {replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = None if num_samples is None else _check_count("num_samples", num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n = len(self.data_source)
        rng = _rng(self.generator)
        if self.replacement:
            return iter(rng.integers(0, n, self.num_samples).tolist() if n else [])
        # More samples than the dataset holds: whole permutations back to back, as PyTorch does.
        if n == 0:
            return iter([])
        order = np.concatenate([rng.permutation(n) for _ in range(-(-self.num_samples // n))])
        return iter(order[:self.num_samples].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices in a random order, a new one per pass."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator

    def __iter__(self):
        return iter([self.indices[i] for i in _permutation(len(self.indices), self.generator).tolist()])

    def __len__(self):
        return len(self.indices)


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size``; the last, shorter one is
    kept unless ``drop_last``."""

    def __init__(self, sampler, batch_size, drop_last):
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, got {drop_last!r}")
        self.sampler, self.batch_size, self.drop_last = sampler, _check_count("batch_size", batch_size), drop_last

    def __iter__(self):
        batch = []
        for idx in self.sampler:
            batch.append(idx)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
