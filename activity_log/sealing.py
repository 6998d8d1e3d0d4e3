"""The seal chain: committed log entries are linked into a hash chain afterwards.

Writers only INSERT entries (``activity_log.services``); they never lock a shared
row. A sealer (the periodic task ``activity_log.tasks.seal``) links each committed,
not yet sealed entry into the chain: one ``ActivitySeal`` per entry, numbered in
the order of sealing. Only sealers lock the one ``SealHead`` row, and a second
sealer skips instead of waiting, so there is one chain and no writer ever waits.

Late commits: ids are taken before commit, so an entry may become visible after
entries with larger ids were sealed. Seals name entry ids (not ranges), and each
run looks at every entry above the head's ``watermark`` that has no seal, so such
an entry is sealed by the next run (later in the chain: that order is fine). The
watermark only moves up to entries written more than ``ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS``
ago: a transaction that writes the log and stays open longer than that is not
expected; if one does, its entries stay unsealed and ``verify_chain`` reports them
(nothing is skipped silently).

What verification catches: a sealed entry changed or deleted, a seal removed,
inserted or rewritten, seals cut from the end (the head), and entries older than
``ACTIVITY_LOG_SEAL_GRACE_SECONDS`` without a seal (written around the triggers,
or the sealer is not running). Someone who rewrites entries, seals and the head
consistently is caught only against a copy of the latest seal hash kept outside
the database: ``verify_activity_log`` and ``/healthz`` details print it.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from .chain import CONTENT_FIELDS, GENESIS, entry_hash, seal_hash
from .models import ActivityEntry, ActivitySeal, SealHead

#: Entries sealed per transaction (a run seals more in further transactions). On SQLite
#: a sealing transaction holds the one write lock, so its batches are short.
SEAL_BATCH = 2000
SQLITE_SEAL_BATCH = 500
#: At most this many batches per run: a run shares the worker with event firings, so it
#: stays short (well under a second); a backlog is worked off over a few ticks.
MAX_BATCHES_PER_RUN = 4
#: Seals checked per database round trip when verifying.
VERIFY_CHUNK = 2000


def grace_seconds() -> float:
    """An entry older than this with no seal is reported (longer than any log-writing
    transaction plus a sealing interval)."""
    return float(getattr(settings, "ACTIVITY_LOG_SEAL_GRACE_SECONDS", 60))


def lookback_seconds() -> float:
    """How long after it was written an entry that commits late is still sealed."""
    return float(getattr(settings, "ACTIVITY_LOG_SEAL_LOOKBACK_SECONDS", 600))


def _unsealed():
    return ActivityEntry.objects.filter(~Exists(ActivitySeal.objects.filter(entry_id=OuterRef("id"))))


# --- sealing ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SealRun:
    """What one sealing transaction did: entries ``sealed``, whether ``more`` are waiting,
    and ``busy`` when another sealer held the head (this one did nothing)."""

    sealed: int
    more: bool = False
    busy: bool = False


def _locked_head() -> SealHead | None:
    """The seal head, locked for this transaction; None when another sealer holds it.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite transactions are serialized anyway.
    A missing head (fresh or flushed database) is created at the end of the chain.
    """
    heads = SealHead.objects.filter(pk=1)
    if connection.features.has_select_for_update_skip_locked:
        heads = heads.select_for_update(skip_locked=True)
    head = heads.first()
    if head is None and not SealHead.objects.filter(pk=1).exists():
        last = ActivitySeal.objects.order_by("-seq").values_list("seq", "hash").first() or (0, GENESIS)
        SealHead.objects.bulk_create([SealHead(pk=1, last_seq=last[0], last_hash=last[1])],
                                     ignore_conflicts=True)
        head = heads.first()
    return head


def default_batch() -> int:
    return SQLITE_SEAL_BATCH if connection.vendor == "sqlite" else SEAL_BATCH


def seal(*, limit: int | None = None) -> SealRun:
    """Seal up to ``limit`` committed entries that have none, in id order, in one
    transaction, and move the head (chain end and watermark)."""
    limit = default_batch() if limit is None else limit
    with transaction.atomic():
        head = _locked_head()
        if head is None:
            return SealRun(0, busy=True)
        now = timezone.now()
        # First the entries old enough to move the watermark past, then the unsealed
        # ones: an entry at or below it that commits between the two is still read.
        settled = (ActivityEntry.objects
                   .filter(id__gt=head.watermark, created_at__lt=now - timedelta(seconds=lookback_seconds()))
                   .aggregate(top=Max("id"))["top"])
        rows = list(_unsealed().filter(id__gt=head.watermark).order_by("id")
                    .values_list("id", *CONTENT_FIELDS)[:limit + 1])
        more = len(rows) > limit
        rows = rows[:limit]
        seq, prev, seals = head.last_seq, head.last_hash, []
        for entry_id, *content in rows:
            seq += 1
            content_hash = entry_hash(*content)
            link = seal_hash(prev, seq, entry_id, content_hash)
            seals.append(ActivitySeal(seq=seq, entry_id=entry_id, entry_hash=content_hash,
                                      prev_hash=prev, hash=link))
            prev = link
        ActivitySeal.objects.bulk_create(seals, batch_size=VERIFY_CHUNK)
        watermark = head.watermark
        if settled is not None and (rows or not more):
            # With more waiting, everything up to the last sealed id is sealed, not beyond.
            watermark = max(watermark, min(settled, rows[-1][0]) if more else settled)
        changes = {}
        if seals:
            changes.update(last_seq=seq, last_hash=prev, sealed_at=now)
        if watermark != head.watermark:
            changes["watermark"] = watermark
        if changes:
            SealHead.objects.filter(pk=1).update(**changes)
        return SealRun(len(seals), more)


def seal_pending(*, limit: int | None = None, max_batches: int = MAX_BATCHES_PER_RUN) -> int:
    """Seal what is waiting, ``limit`` entries per transaction (so SQLite writers get
    their turn between batches); returns how many were sealed."""
    total = 0
    for _ in range(max_batches):
        run = seal(limit=limit)
        total += run.sealed
        if run.busy or not run.more:
            break
    return total


# --- verifying -------------------------------------------------------------------------

@dataclass(frozen=True)
class ChainCheck:
    """The outcome of walking the seal chain.

    ``ok``; how many seals were checked; for the first broken link the seal's ``seq``
    and/or the ``entry_id`` concerned and what differs (``reason``); how many entries
    older than the grace period have no seal (``unsealed``, the first one's id);
    the chain's end as the head records it (``last_seq``, ``last_hash``: keep a copy
    outside the database to catch a rewrite of the whole chain from some point on).
    """

    ok: bool
    seals_checked: int
    seq: int | None = None
    entry_id: int | None = None
    reason: str = ""
    unsealed: int = 0
    first_unsealed_id: int | None = None
    last_seq: int = 0
    last_hash: str = GENESIS

    def as_dict(self) -> dict:
        return {"ok": self.ok, "seals_checked": self.seals_checked, "seq": self.seq,
                "entry_id": self.entry_id, "reason": self.reason, "unsealed": self.unsealed,
                "first_unsealed_id": self.first_unsealed_id, "last_seq": self.last_seq,
                "last_hash": self.last_hash}

    def as_check(self) -> dict:
        """The shape of one ``/healthz`` check: ``{"ok": …, "detail": as_dict()}``."""
        return {"ok": self.ok, "detail": self.as_dict()}

    def summary(self) -> str:
        """One line in words, for the command and the health check."""
        end = f"chain end: seal {self.last_seq} hash {self.last_hash}"
        if not self.ok:
            return f"BROKEN after {self.seals_checked} good seals: {self.reason}; {end}"
        return f"ok: {self.seals_checked} seals checked, no entry unsealed after {grace_seconds():g} s; {end}"


def _walk(seals, expected_seq: int, expected_prev: str) -> tuple[int, dict | None, tuple]:
    """Check ``seals`` (seq order) and their entries; returns (good seals, first break or
    None, (seq, hash) of the last good seal)."""
    checked, last = 0, (0, GENESIS)
    chunk: list[tuple] = []

    def check(chunk):
        nonlocal checked, expected_seq, expected_prev, last
        content = {pk: rest for pk, *rest in ActivityEntry.objects.filter(id__in=[s[1] for s in chunk])
                   .values_list("id", *CONTENT_FIELDS)}
        for seq, entry_id, stored_entry_hash, prev_hash, stored_hash in chunk:
            if seq != expected_seq:
                return {"seq": seq, "reason": f"seal {seq} follows seal {expected_seq - 1}: "
                                              f"seals {expected_seq}…{seq - 1} were removed"}
            if prev_hash != expected_prev:
                return {"seq": seq, "entry_id": entry_id,
                        "reason": f"seal {seq} links to {prev_hash[:12]}…, but the seal before it "
                                  f"hashes to {expected_prev[:12]}… (seal removed, inserted or changed)"}
            if seal_hash(prev_hash, seq, entry_id, stored_entry_hash) != stored_hash:
                return {"seq": seq, "entry_id": entry_id,
                        "reason": f"seal {seq} does not hash to what it says (the seal was changed)"}
            if entry_id not in content:
                return {"seq": seq, "entry_id": entry_id,
                        "reason": f"entry {entry_id}, sealed as {seq}, is gone (it was deleted)"}
            computed = entry_hash(*content[entry_id])
            if computed != stored_entry_hash:
                return {"seq": seq, "entry_id": entry_id,
                        "reason": f"entry {entry_id} hashes to {computed[:12]}…, its seal {seq} says "
                                  f"{stored_entry_hash[:12]}… (the entry was changed)"}
            checked += 1
            expected_seq, expected_prev, last = seq + 1, stored_hash, (seq, stored_hash)
        return None

    for row in seals.values_list("seq", "entry_id", "entry_hash", "prev_hash", "hash").iterator(
            chunk_size=VERIFY_CHUNK):
        chunk.append(row)
        if len(chunk) >= VERIFY_CHUNK:
            broken = check(chunk)
            if broken:
                return checked, broken, last
            chunk = []
    broken = check(chunk) if chunk else None
    return checked, broken, last


def verify_chain(*, last: int | None = None) -> ChainCheck:
    """Walk the seals in ``seq`` order and report the first broken link, then entries
    older than the grace period that have no seal.

    ``last``: only the newest ``last`` seals, and only entries above the head's
    watermark for unsealed ones (cheap enough for a health check). Without it, every
    seal and every entry.
    """
    head = SealHead.objects.filter(pk=1).values_list("last_seq", "last_hash", "watermark").first()
    seals = ActivitySeal.objects.order_by("seq")
    expected_seq, expected_prev = 1, GENESIS
    if last is not None:
        start = ActivitySeal.objects.order_by("-seq").values_list("seq", "prev_hash")[last - 1:last].first()
        if start is not None:
            seals = seals.filter(seq__gte=start[0])
            expected_seq, expected_prev = start
    checked, broken, end = _walk(seals, expected_seq, expected_prev)
    last_seq, last_hash = head[:2] if head else end
    if broken:
        return ChainCheck(False, checked, broken.get("seq"), broken.get("entry_id"), broken["reason"],
                          last_seq=last_seq, last_hash=last_hash)
    if head is None and checked:
        return ChainCheck(False, checked, None, None, "the seal head is missing", last_seq=end[0],
                          last_hash=end[1])
    if head is not None and tuple(head[:2]) != end:
        return ChainCheck(False, checked, end[0] + 1, None,
                          f"the seal head says the chain ends at seal {head[0]} ({head[1][:12]}…), "
                          f"the last seal is {end[0]} ({end[1][:12]}…): seals were removed from the end",
                          last_seq=last_seq, last_hash=last_hash)
    old = _unsealed().filter(created_at__lt=timezone.now() - timedelta(seconds=grace_seconds()))
    if last is not None and head is not None:
        old = old.filter(id__gt=head[2])
    found = old.order_by("id").values_list("id", flat=True)
    first_unsealed = found.first()
    if first_unsealed is not None:
        count = found.count()
        return ChainCheck(False, checked, None, first_unsealed,
                          f"{count} entries older than {grace_seconds():g} s have no seal, the first is "
                          f"entry {first_unsealed} (written around the triggers, or no sealer runs)",
                          unsealed=count, first_unsealed_id=first_unsealed, last_seq=last_seq,
                          last_hash=last_hash)
    return ChainCheck(True, checked, last_seq=last_seq, last_hash=last_hash)
