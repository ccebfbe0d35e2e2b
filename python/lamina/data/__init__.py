"""Datasets, samplers and the DataLoader, with PyTorch's names and semantics
(``torch.utils.data``)."""
from .sampler import Sampler, SequentialSampler, RandomSampler, SubsetRandomSampler, BatchSampler
from .dataset import Dataset, IterableDataset, TensorDataset, Subset, ConcatDataset, random_split
from .dataloader import DataLoader, default_collate, default_convert

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler", "BatchSampler", "Dataset",
           "IterableDataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "default_convert"]
