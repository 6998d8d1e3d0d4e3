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
import json
from datetime import UTC

from django.core.serializers.json import DjangoJSONEncoder

#: ``prev_hash`` of the first row.
GENESIS = "0" * 64

#: The columns a row's hash covers, in this order (after ``prev_hash``).
CONTENT_FIELDS = ("created_at", "election_id", "election_title", "root_id", "tree_path", "actor_id",
                  "actor_name", "on_behalf_of_id", "on_behalf_of_name", "action", "metadata")


def row_hash(prev_hash: str, created_at, election_id, election_title, root_id, tree_path, actor_id,
             actor_name, on_behalf_of_id, on_behalf_of_name, action, metadata) -> str:
    """sha256 (hex) of ``prev_hash`` and one row's content."""
    content = [prev_hash, created_at.astimezone(UTC).isoformat(timespec="microseconds"),
               int(election_id), election_title, int(root_id), tree_path,
               actor_id, actor_name or "", on_behalf_of_id, on_behalf_of_name or "", str(action),
               metadata or {}]
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      cls=DjangoJSONEncoder)
    return hashlib.sha256(text.encode()).hexdigest()
