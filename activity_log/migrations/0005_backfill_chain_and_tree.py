"""Give the existing rows their tree (root_id, tree_path) and their links in the hash
chain, in id order, and point the chain head at the newest row.

Tree: from the elections that still exist, and for deleted ones from the ``parent``
their ``election_created`` row names. PostgreSQL's append-only trigger is switched
off for this one migration (the owner running migrations may do that; see
docs/reliability.md H14).
"""

from django.db import migrations

from activity_log.chain import CONTENT_FIELDS, GENESIS, row_hash

BATCH = 2000


def forwards(apps, schema_editor):
    Election = apps.get_model("elections", "Election")
    ActivityEntry = apps.get_model("activity_log", "ActivityEntry")
    ChainHead = apps.get_model("activity_log", "ChainHead")
    parents = dict(Election.objects.values_list("id", "parent_id"))
    for election_id, metadata in (ActivityEntry.objects.filter(action="election_created")
                                  .values_list("election_id", "metadata")):
        parents.setdefault(election_id, (metadata or {}).get("parent"))

    def path_of(pk):
        ids, seen = [], set()
        while pk is not None and pk not in seen:
            seen.add(pk)
            ids.append(pk)
            pk = parents.get(pk)
        return "/" + "/".join(str(x) for x in reversed(ids)) + "/"

    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE activity_log_activityentry DISABLE TRIGGER activity_log_append_only")
    prev, last_id, batch = GENESIS, 0, []
    for row in ActivityEntry.objects.order_by("id").iterator(chunk_size=BATCH):
        row.tree_path = path_of(row.election_id)
        row.root_id = int(row.tree_path.split("/")[1])
        row.prev_hash = prev
        row.hash = prev = row_hash(prev, *[getattr(row, name) for name in CONTENT_FIELDS])
        batch.append(row)
        last_id = row.pk
        if len(batch) >= BATCH:
            ActivityEntry.objects.bulk_update(batch, ["tree_path", "root_id", "prev_hash", "hash"])
            batch = []
    if batch:
        ActivityEntry.objects.bulk_update(batch, ["tree_path", "root_id", "prev_hash", "hash"])
    if postgres:
        schema_editor.execute("ALTER TABLE activity_log_activityentry ENABLE TRIGGER activity_log_append_only")
    ChainHead.objects.update_or_create(pk=1, defaults={"last_id": last_id, "last_hash": prev})


class Migration(migrations.Migration):
    dependencies = [("activity_log", "0004_chain_and_tree"), ("elections", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
