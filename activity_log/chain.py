"""The hashes of the activity log's seal chain (``ActivitySeal``): each seal holds the
hash of one entry's content and a link hash over the previous seal's hash, its own
number, the entry's id and that content hash. Changing a sealed entry breaks its
``entry_hash``; removing, inserting or rewriting a seal breaks the next link.

Pure functions only: the data migrations use them too (0005 ``row_hash``, 0007 the
seal functions), so they must not change the bytes they hash. The content is a
canonical JSON array (sorted keys, no spaces, times in UTC with microseconds),
written with ``DjangoJSONEncoder`` like the metadata column: a date in the metadata
hashes as the string the column stores. The sealer hashes entries as read back
after commit, as the verifier does.
"""

import hashlib
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder

#: ``prev_hash`` of the first seal (and, before 0007, of the first row).
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


def entry_hash(*content) -> str:
    """sha256 (hex) of one entry's ``content_text`` (its ``CONTENT_FIELDS``, in order)."""
    return hashlib.sha256(content_text(*content).encode()).hexdigest()


def seal_hash(prev_hash: str, seq: int, entry_id: int, entry_hash_: str) -> str:
    """The link hash of seal number ``seq`` of entry ``entry_id``, after ``prev_hash``."""
    return hashlib.sha256(f"{prev_hash}|{int(seq)}|{int(entry_id)}|{entry_hash_}".encode()).hexdigest()
