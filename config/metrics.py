"""Where the processes of one recbridge stack on a machine pool their Prometheus samples.

prometheus-client's multiprocess mode wants a directory that is fresh for each start of the
process group writing it, and ``mark_process_dead`` for each worker that exits. recbridge's
processes start separately (web, each worker), so each process tree gets a directory of its
own, ``<base>/<role>-<pid>``, created empty when it starts and removed when it ends; a
start also removes the directories of trees that are gone (killed outright). ``/metrics``
adds up every directory under the base. The base (``METRICS_DIR``, by default
one per Redis database in the temp directory) keeps two stacks on one machine apart.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from config.settings import Settings

_prepared_base: str | None = None
_TREE = re.compile(r"^[a-z]+-(\d+)$")


def base_dir(settings: Settings) -> str:
    if settings.metrics_dir:
        return settings.metrics_dir
    # The processes of one stack share a Redis database; the credentials stay out of the name.
    where = re.sub(r"//[^@/]*@", "//", settings.redis_url)
    digest = hashlib.sha256(where.encode()).hexdigest()[:12]
    return os.path.join(tempfile.gettempdir(), f"recbridge-metrics-{digest}")


def prepare(settings: Settings, role: str) -> None:
    """Give this process tree a fresh directory and point prometheus-client at it.

    Must run before prometheus-client is imported, which is why gunicorn's config and the
    worker's entrypoint call it first.
    """
    global _prepared_base  # noqa: PLW0603 - once per process tree, before any fork
    base = base_dir(settings)
    own = os.path.join(base, f"{role}-{os.getpid()}")
    shutil.rmtree(own, ignore_errors=True)
    for _ in range(5):  # another tree may remove the empty base between our two mkdirs
        with contextlib.suppress(FileNotFoundError):
            os.makedirs(own)
            break
    remove_gone_trees(base)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = own
    _prepared_base = base
    owner = os.getpid()

    def remove_own() -> None:
        if os.getpid() == owner:  # forked children (gunicorn workers) inherit this hook
            shutil.rmtree(own, ignore_errors=True)
            if not settings.metrics_dir:  # the default one in the temp dir, once empty
                with contextlib.suppress(OSError):
                    os.rmdir(base)

    atexit.register(remove_own)


def remove_gone_trees(base: str) -> None:
    for entry in Path(base).iterdir():
        found = _TREE.match(entry.name)
        if found and entry.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sample_files() -> list[str]:
    """Every sample file of the stack's process trees (empty when not pooling)."""
    if _prepared_base is None:
        return []
    files: list[str] = []
    for tree in Path(_prepared_base).iterdir():
        if _TREE.match(tree.name):
            with contextlib.suppress(OSError):  # a tree that just ended
                files.extend(str(f) for f in tree.glob("*.db"))
    return files


def multiprocess_dir() -> str | None:
    """The stack's base directory when this process tree pools its samples, else None."""
    return _prepared_base
