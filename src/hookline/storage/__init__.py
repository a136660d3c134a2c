"""Storage: one interface of domain operations, one implementation per database."""

from hookline.storage.base import Storage
from hookline.storage.factory import open_storage

__all__ = ["Storage", "open_storage"]
