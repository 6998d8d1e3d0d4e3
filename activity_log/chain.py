"""The hash chain of the activity log: each row's hash covers the previous row's hash
and the row's own content, so changing, inserting or removing a row anywhere but at
the very end breaks every later link (and the chain head catches the end).

Pure functions only: the data migration uses them too, so they must not change the
bytes they hash. The content is a canonical JSON array (sorted keys, no spaces,
times in UTC with microseconds), written with ``DjangoJSONEncoder`` like the
metadata column: a date in the metadata hashes as the string the column stores,
so the metadata as written and as read back give the same hash.
"""

import hashlib
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder

#: ``prev_hash`` of the first row.
GENESIS = "0" * 64

#: The columns a row's hash covers, in this order (after ``prev_hash``).
CONTENT_FIELDS = ("created_at", "election_id", "election_title", "root_id", "tree_path", "actor_id",
                  "actor_name", "on_behalf_of_id", "on_behalf_of_name", "action", "metadata")


_ENCODER = DjangoJSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def content_text(created_at, election_id, election_title, root_id, tree_path, actor_id, actor_name,
                 on_behalf_of_id, on_behalf_of_name, action, metadata) -> str:
    """The canonical JSON of one row's content (the ``CONTENT_FIELDS``, in that order)."""
    return _ENCODER.encode([
        created_at.astimezone(UTC).isoformat(timespec="microseconds"), int(election_id), election_title,
        int(root_id), tree_path, actor_id, actor_name or "", on_behalf_of_id, on_behalf_of_name or "",
        str(action), metadata or {}])


def link_hash(prev_hash: str, text: str) -> str:
    """sha256 (hex) of the previous row's hash (64 hex digits) followed by ``content_text``."""
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


def row_hash(prev_hash: str, *content) -> str:
    """The hash of a row whose ``CONTENT_FIELDS`` are ``content``, after ``prev_hash``."""
    return link_hash(prev_hash, content_text(*content))
