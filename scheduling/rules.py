"""The rules a schedule follows: an election's own times, and its window in the tree.

Plain times in, messages by kind out, so ``configure`` (against the stored tree) and
the upload's one-pass check (``election_config``, against the tree in memory) apply
the very same rules. ``check_schedule`` is configure's entry; ``stored_windows`` the
one read the rules need.
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from elections.errors import InvalidInput
from elections.models import TRANSITIONS, Election, Status, StatusAction
from elections.selectors import ancestor_paths, descendant_ids

from .models import Kind, ScheduledEvent, State


def _utc(value: datetime) -> str:
    return f"{value:%Y-%m-%dT%H:%M:%SZ}"


#: What a parent's window implies for a child's, firing cascading down the tree:
#: (child's kind, parent's kind, test on (child's time, parent's time), why, in a sentence).
TREE_RULES = (
    (Kind.START_VOTING, Kind.START_VOTING, lambda c, p: c >= p, "before"),
    (Kind.START_VOTING, Kind.START_VOTING, lambda c, p: c <= p, "moot start"),
    (Kind.START_VOTING, Kind.END_VOTING, lambda c, p: c < p, "after end"),
    (Kind.END_VOTING, Kind.START_VOTING, lambda c, p: c > p, "end before start"),
    (Kind.END_VOTING, Kind.END_VOTING, lambda c, p: c <= p, "moot end"),
)


@dataclass(frozen=True)
class Window:
    """An election's pending voting times (kind -> UTC datetime), and how a message names it."""

    name: str
    times: dict[str, datetime]


def election_name(title: str, election_id: int | None = None, where: str = "") -> str:
    """``“General” (id 12)``; an election not yet created is named by ``where`` it is in an upload."""
    return f"\u201c{title}\u201d ({f'id {election_id}' if election_id is not None else where})"


def window_errors(target: dict, changed: set[str], *, above: list[Window],
                  below: list[Window] = ()) -> dict[str, list[str]]:
    """Messages, by kind, for each changed time of ``target`` that breaks the tree's windows.

    The window rule: a child election is open only while each of its ancestors is.
    Because a start opens every descendant and an end closes every descendant (see
    docs/architecture.md), against each ancestor's pending events a child's start
    must equal the ancestor's start (earlier, it opens while the parent is closed;
    later, the parent's start opens it first and its own start is cancelled as
    moot) and be before the ancestor's end; a child's end must be after the
    ancestor's start (else it is skipped, "not started", and the parent's start
    opens the child with no end) and at or before the ancestor's end (later, it
    never runs). The same rule is checked from above when a parent moves, against
    every descendant's times. ``above`` is nearest ancestor first; only the nearest
    conflict of each kind is named. Plain times in, no query: ``configure`` and the
    upload's check in memory (``election_config``) both call it.
    """
    errors: dict[str, list[str]] = {}
    for ancestor in above:
        for child_kind, parent_kind, holds, why in TREE_RULES:
            mine, theirs = target.get(child_kind), ancestor.times.get(parent_kind)
            if child_kind in changed and mine and theirs and not holds(mine, theirs):
                errors.setdefault(child_kind, []).append(_against_ancestor(why, ancestor.name, theirs))
    for descendant in below:
        for child_kind, parent_kind, holds, why in TREE_RULES:
            theirs, mine = descendant.times.get(child_kind), target.get(parent_kind)
            if parent_kind in changed and mine and theirs and not holds(theirs, mine):
                errors.setdefault(parent_kind, []).append(_against_descendant(why, descendant.name, theirs))
    return {kind: messages[:1] for kind, messages in errors.items()}  # the nearest conflict


def _tree_errors(election: Election, target: dict, changed: set[str]) -> dict[str, list[str]]:
    """``window_errors`` of ``election`` against the stored pending events of its ancestors and
    descendants: one query for the events of both."""
    if not changed:
        return {}
    above = getattr(election, "ancestor_ids", None)
    if above is None:
        above = (ancestor_paths([election.pk]).get(election.pk) or [election.pk])[1:]
    below = descendant_ids([election.pk])
    windows = stored_windows([*above, *below])
    empty = Window("", {})
    return window_errors(target, changed, above=[windows.get(pk, empty) for pk in above],
                         below=[windows[pk] for pk in below if pk in windows])


def stored_windows(election_ids: list[int]) -> dict[int, Window]:
    """The pending voting times of each of these elections that has any, in one query."""
    rows = (ScheduledEvent.objects.filter(election_id__in=election_ids, state=State.PENDING,
                                          kind__in=Kind.VOTING)
            .values_list("election_id", "election__title", "kind", "event_at"))
    windows: dict[int, Window] = {}
    for pk, title, kind, event_at in rows:
        windows.setdefault(pk, Window(election_name(title, pk), {})).times[kind] = event_at
    return windows


def _against_ancestor(why: str, name: str, at: datetime) -> str:
    at, who = _utc(at), name
    return {
        "before": f"Must not be before the start of voting of {who} at {at}: a child election "
                  f"cannot open before its parent. Choose {at}, or clear it (starting {who} starts "
                  "this election too).",
        "moot start": f"Would never run: the start of voting of {who} at {at} starts this election "
                      f"too. Clear it, or choose {at}.",
        "after end": f"Must be before the end of voting of {who} at {at}: a child election cannot "
                     "open after its parent closed.",
        "end before start": f"Must be after the start of voting of {who} at {at}: a child election "
                            "cannot close before its parent opens.",
        "moot end": f"Must be at or before the end of voting of {who} at {at}: ending {who} ends "
                    "this election too.",
    }[why]


def _against_descendant(why: str, name: str, at: datetime) -> str:
    at, who = _utc(at), f"the child election {name}"
    return {
        "before": f"Must not be after the start of voting of {who} at {at}: it would open before "
                  "its parent. Move or clear that start first.",
        "moot start": f"Must not be before the start of voting of {who} at {at}: starting this "
                      "election starts it too, so its own start would never run. Move or clear "
                      "that start first.",
        "after end": f"Must be after the start of voting of {who} at {at}: it would open after its "
                     "parent closed. Move or clear that start first.",
        "end before start": f"Must be before the end of voting of {who} at {at}: it would close "
                            "before its parent opens. Move or clear that end first.",
        "moot end": f"Must be at or after the end of voting of {who} at {at}: ending this "
                    "election ends it too, so its own end would never run. Move or clear that "
                    "end first.",
    }[why]


def own_schedule_errors(target: dict, changed: set[str], *, status: str, now: datetime,
                        ) -> dict[str, list[str]]:
    """Messages, by kind, for the rules on an election's own times: a changed time is in the
    future, the end is after the start, no start for an election that has started and no end
    for a stopped one. Plain values in, no query (``configure`` and the upload's check)."""
    errors: dict[str, list[str]] = {}
    for kind in Kind.VOTING:
        if kind in changed and target[kind] <= now:
            errors[kind] = [f"{_utc(target[kind])} is in the past (it is now {_utc(now)}); "
                            "choose a time in the future."]
    start, end = target.get(Kind.START_VOTING), target.get(Kind.END_VOTING)
    if start and end and end <= start and Kind.END_VOTING not in errors:
        errors[Kind.END_VOTING] = [f"Must be after the start of voting ({_utc(start)}); choose a "
                                   "later end or an earlier start."]
    if Kind.START_VOTING in changed and status not in TRANSITIONS[StatusAction.START][0]:
        errors.setdefault(Kind.START_VOTING, []).append(
            f"The election has already started (status {status}); a start can only "
            "be scheduled for an election that has not started. Send null to clear it."
        )
    if Kind.END_VOTING in changed and status == Status.STOPPED:
        errors.setdefault(Kind.END_VOTING, []).append(
            "The election is already stopped; send null to clear the end of voting."
        )
    return errors


def check_schedule(election: Election, current: dict, target: dict) -> None:
    """Raise ``InvalidInput`` naming each field whose new value breaks a rule."""
    changed = {kind for kind in Kind.VOTING if target[kind] is not None
               and (kind not in current or current[kind].event_at != target[kind])}
    errors = own_schedule_errors(target, changed, status=election.status, now=timezone.now())
    if not errors:  # the tree's windows, once the election's own are sound
        errors = _tree_errors(election, target, changed)
    if errors:
        raise InvalidInput({kind: {"event_at": messages} for kind, messages in errors.items()})
