"""Choosing the backend of a distributed run from ``--ray ADDRESS`` (the only place Ray is named
before it is needed; ``ray_backend`` is imported only when a Ray address is given)."""

from __future__ import annotations

from ..errors import UsageError
from .inprocess import LocalBackend
from .replica import Backend

IN_PROCESS = "inprocess"
RAY_MISSING = "--ray needs Ray, which is not installed: pip install 'w2v-nce[ray]'"


def make_backend(address: str | None, replicas: int) -> Backend:
    """``None`` or ``inprocess``: K replicas in this process; ``auto``, ``local`` or a head
    address (host:port, ray://host:port): K Ray actors."""
    if address is None or address == IN_PROCESS:
        return LocalBackend(replicas)
    try:
        import ray  # noqa: F401 -- only to say what to install
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    from .ray_backend import RayBackend

    return RayBackend(address, replicas)
