"""Read-modify-write of a shared tag that loses nothing to concurrent writers.

The legacy ``.sig``/``.att`` images and the referrers fallback index are one manifest
at one tag that every writer rewrites whole. Registries have no conditional PUT (no
``If-Match`` on manifests in the distribution spec), so two writers that read the same
manifest each PUT it with only their own addition and one addition is lost: cosign
loses signatures this way (cosign#2432).

Writers on one machine take turns: the whole check-PUT-read-back below runs under a
per-user ``flock`` named after the tag (:mod:`sigstack._internal.hostlock`;
``RegistryOptions.write_lock``). Across machines there is no lock, so every writer
also detects and repairs:

1. just before the PUT it asks the tag's digest again (HEAD) and re-merges when the tag
   moved since the manifest it merged onto was read;
2. after the PUT it waits a little (the *settle* time: at least
   ``RegistryOptions.write_settle``, and three times what its own check-and-PUT took, with
   jitter) and reads the tag back: a writer that read before our PUT and wrote after
   it has landed by then, and its manifest lacks our addition;
3. when anything of ours is missing, it merges again onto what it read and repeats, at
   most ``RegistryOptions.write_attempts`` rounds, then fails with
   :class:`~sigstack.errors.ConcurrentUpdateError` rather than report success for
   something that is not stored.

What remains (docs/reliability.md): a writer on another machine (or one that runs
unlocked) that stalls longer than our settle time between its HEAD check and its PUT
can still overwrite us after we returned.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path

from sigstack._internal.hostlock import default_lock_dir, host_lock
from sigstack.errors import ConcurrentUpdateError, NotFoundError
from sigstack.oci.client import Manifest, RegistryClient
from sigstack.oci.reference import Reference

#: ``merge(current)`` gives the manifest to PUT (bytes, media type) over the tag's current
#: manifest (None: no tag yet), or None when ``current`` already holds all of ours.
Merge = Callable[[Manifest | None], tuple[bytes, str] | None]


def read_tag(client: RegistryClient, ref: Reference) -> Manifest | None:
    """The manifest at ``ref``, or None when the tag does not exist."""
    try:
        return client.get_manifest(ref)
    except NotFoundError:
        return None


def _tag_digest(client: RegistryClient, ref: Reference) -> str | None:
    try:
        return client.head_manifest(ref).digest
    except NotFoundError:
        return None


def write_merged(client: RegistryClient, ref: Reference, current: Manifest | None, merge: Merge,
                 what: str) -> None:
    """PUT ``merge(current)`` at ``ref`` until a read-back shows everything of ours
    (see the module docstring); ``current`` is what the caller read and merged onto."""
    opts = client.options
    if not opts.write_lock:
        _write_merged(client, ref, current, merge, what)
        return
    directory = Path(opts.write_lock_dir) if opts.write_lock_dir else default_lock_dir()
    with host_lock(directory, str(ref), opts.write_lock_timeout):
        _write_merged(client, ref, current, merge, what)


def _write_merged(client: RegistryClient, ref: Reference, current: Manifest | None, merge: Merge,
                  what: str) -> None:
    opts = client.options
    rounds = max(1, opts.write_attempts)
    puts = moves = 0
    while True:
        out = merge(current)
        if out is None:
            return
        if puts >= rounds or moves >= 4 * rounds:
            break
        data, media_type = out
        started = time.monotonic()
        if _tag_digest(client, ref) != (current.digest if current is not None else None):
            moves += 1  # another writer landed since our read: merge onto what it wrote
            time.sleep(opts.write_settle * random.random() / 4)
            current = read_tag(client, ref)
            continue
        client.put_manifest(ref, data, media_type)
        puts += 1
        took = time.monotonic() - started
        # little jitter on the first write (it costs every sign), more on repairs, to desynchronise
        jitter = 1 + random.random() * (0.25 if puts == 1 else 1.0)
        time.sleep(max(opts.write_settle, 3 * took) * jitter * (1 + (puts - 1) / 2))
        current = read_tag(client, ref)
    raise ConcurrentUpdateError(
        f"{what} at {ref} was overwritten by concurrent writers (after {puts} writes); "
        "what this run added is not stored (run it again)")
