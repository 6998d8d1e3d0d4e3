"""Import of an election's JSON configuration: the election, its children and their schedules.

It lives in ``scheduling`` because a configuration carries ``scheduled_events``;
imports still point one way (scheduling -> elections -> activity_log).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from activity_log.services import staged_entries
from config.input import parse_id
from elections.errors import InvalidInput
from elections.models import Election, Permission, Status, time_zone_names
from elections.new_trees import NewElection, NewTree
from elections.selectors import ancestor_paths, user_can
from elections.services import check_tree_depth

from .configuring import lock_with_ancestors, new_events, save_new_events
from .models import Kind
from .rules import Window, election_name, own_schedule_errors, stored_windows, window_errors
from .validation import scheduled_events_and_errors

FIELDS = ("title", "description", "parent", "children", "scheduled_events", "time_zone")
CHILD_FIELDS = tuple(f for f in FIELDS if f != "parent")
#: A top election and 100,000 children: what benchmark 10 measured (docs/benchmarks.md).
MAX_ELECTIONS = 100_001


@dataclass(frozen=True)
class Section:
    """A key of the configuration owned by an app above scheduling (e.g. ``automations``).

    ``parse(value)`` returns what ``apply`` needs or raises ``InvalidInput`` with the
    errors under that key; ``apply(election, parsed, actor)`` writes it in the upload's
    transaction, after the election's own scheduled events (so rules relative to them
    see them). Registered in the owner's ``AppConfig.ready()``: scheduling never imports it.
    """

    parse: Callable[[object], object]
    apply: Callable[[Election, object, object], None]


#: key -> Section, filled by the apps above (``register_section``).
SECTIONS: dict[str, Section] = {}


def register_section(key: str, section: Section) -> None:
    SECTIONS[key] = section


def _fields(top: bool) -> tuple[str, ...]:
    own = FIELDS if top else CHILD_FIELDS
    return (*own, *SECTIONS)


@dataclass
class ElectionSpec:
    title: str
    description: str
    events: dict[str, datetime | None]
    children: list["ElectionSpec"] = field(default_factory=list)
    time_zone: str | None = None  # None: the parent's, or TIME_ZONE at the top
    sections: dict[str, object] = field(default_factory=dict)
    index_in_parent: int = 0


def import_election_config(config, *, actor) -> Election:
    """Create the election described by ``config`` with its children and schedules, atomically.

    The caller's edit grant on ``parent`` is checked first, before the rest of the
    body is read. Then the whole configuration is checked in one pass, before anything
    is written: every malformed field, and every schedule the rules of ``configuring``
    refuse (a time in the past, an end before the start, a child's window outside its
    ancestors', the ones in the upload and the stored ones above ``parent``). Raises
    ``InvalidInput`` with all of them, keyed like the input (children by index), and
    creates nothing when any part is wrong.

    The check, and building every row, happen before the transaction that writes the
    tree (on SQLite, outside the one write lock). That transaction locks ``parent`` and
    its ancestors, checks the configuration again if their schedules changed meanwhile,
    and writes the whole tree with a few statements (``NewTree``, ``StagedRows``).
    """
    parent = _editable_parent(config, actor)
    check_tree_depth(parent, _levels(config))
    above = _stored_windows_above(parent, lock=False)
    specs = _preorder(_checked(config, above))
    now = timezone.now()
    tree = NewTree([NewElection(spec.title, spec.description, parent_index, spec.time_zone)
                    for spec, parent_index in specs], parent=parent, actor=actor, now=now)
    events, scheduled = new_events([(tree.refs[i], spec.events) for i, (spec, _) in enumerate(specs)
                                    if any(spec.events.values())], actor=actor, now=now)
    log = staged_entries([*tree.log, *scheduled], paths=tree.paths, now=now)
    with tree.rows, log, transaction.atomic():
        # the parent and its ancestors stay locked until the tree is written, so the
        # windows checked are still the stored ones when it commits
        locked_above = _stored_windows_above(parent)
        if locked_above != above:
            _checked(config, locked_above)
        top = tree.write()
        save_new_events(events, now)
        log.insert()
        with_sections = [i for i, (spec, _) in enumerate(specs) if spec.sections]
        created = Election.objects.in_bulk([tree.refs[i].pk for i in with_sections])
        for i in with_sections:
            _apply_sections(specs[i][0], created[tree.refs[i].pk], actor, _index_path(specs, i))
        return top


def _checked(config, above: list[Window]) -> "ElectionSpec":
    """The parsed configuration; raises ``InvalidInput`` with every problem in it."""
    spec, errors = _parse(config, counter=[0], path=(), above=above, now=timezone.now())
    if errors:
        raise InvalidInput(errors)
    return spec


def _preorder(spec: "ElectionSpec") -> list[tuple["ElectionSpec", int | None]]:
    """Every election of the tree, each parent before its children, with its parent's index
    (None for the top); sets each spec's ``index_in_parent`` for error paths. No recursion."""
    ordered: list[tuple[ElectionSpec, int | None]] = [(spec, None)]
    stack = [0]
    while stack:
        index = stack.pop()
        children = ordered[index][0].children
        for position, child in enumerate(children):
            child.index_in_parent = position
            ordered.append((child, index))
        stack.extend(range(len(ordered) - len(children), len(ordered)))
    return ordered


def _index_path(specs, index: int) -> list[str]:
    """``["children", "3", "children", "0"]`` for the election at ``index`` of ``_preorder``."""
    path: list[str] = []
    while specs[index][1] is not None:
        path[:0] = ["children", str(specs[index][0].index_in_parent)]
        index = specs[index][1]
    return path


def _stored_windows_above(parent: Election | None, *, lock: bool = True) -> list[Window]:
    """The pending voting times of ``parent`` and its ancestors, nearest first; ``lock`` locks
    them for the caller's transaction."""
    if parent is None:
        return []
    try:
        if lock:
            path = [parent.pk, *lock_with_ancestors(parent.pk).ancestor_ids]
        else:
            path = ancestor_paths([parent.pk])[parent.pk]
    except (Election.DoesNotExist, KeyError):  # deleted since it was read
        raise InvalidInput({"parent": [
            f"Election #{parent.pk} no longer exists; choose another parent."]}) from None
    windows = stored_windows(path)
    return [windows[pk] for pk in path if pk in windows]


def _editable_parent(config, actor) -> Election | None:
    """The election named by ``config["parent"]`` if ``actor`` may edit it; None without one."""
    parent_id = config.get("parent") if isinstance(config, dict) else None
    if parent_id is None:
        return None
    try:
        parent_id = parse_id(parent_id)
    except ValueError:
        raise InvalidInput({"parent": ["Must be the integer id of an existing election, or null."]}) from None
    parent = Election.objects.filter(pk=parent_id).first()
    if parent is None or not user_can(actor, parent, Permission.EDIT):
        raise InvalidInput({"parent": [
            f"No election #{parent_id} that you may edit; give the id of an election "
            "on which you hold the edit grant, or leave parent out."
        ]})
    return parent


def _levels(config) -> int:
    """How many levels of elections ``config`` nests (1 without children), counted without
    recursion; parts that are not configurations count as nothing (``_parse`` names them)."""
    deepest, stack = 0, [(config, 1)]
    while stack:
        node, level = stack.pop()
        if not isinstance(node, dict):
            continue
        deepest = max(deepest, level)
        children = node.get("children")
        if isinstance(children, list):
            stack.extend((child, level + 1) for child in children)
    return deepest


def _parse(config, *, counter: list[int], path: tuple[int, ...], above: list[Window], now: datetime,
           ) -> tuple[ElectionSpec | None, dict]:
    """The election at ``path`` (child indices from the top) and the errors of it and its children,
    keyed like the input (None and the errors when there are any); ``above`` holds the windows of
    its ancestors, nearest first, for the schedule rules."""
    if not isinstance(config, dict):
        return None, {"non_field_errors": [
            'Expected an election configuration object like {"title": "...", "scheduled_events": {...}}.'
        ]}
    counter[0] += 1
    if counter[0] > MAX_ELECTIONS:
        raise InvalidInput({"children": [
            f"Too many elections in one configuration (at most {MAX_ELECTIONS:,}: a top election and "
            f"{MAX_ELECTIONS - 1:,} under it); upload it in parts."
        ]})
    errors: dict = {}
    allowed = _fields(top=not path)
    for key in config:
        if key not in allowed:
            hint = " (children get their parent from where they are nested)" if key == "parent" else ""
            errors[str(key)[:60]] = [f"Unknown field{hint}; accepted fields are {', '.join(allowed)}."]
    title = config.get("title")
    if not isinstance(title, str) or not title.strip():
        errors["title"] = ["This field is required: a non-empty string."]
    elif len(title) > 200:
        errors["title"] = [f"Is {len(title)} characters long; use at most 200."]
    description = config.get("description", "")
    if description is None:
        description = ""
    if not isinstance(description, str):
        errors["description"] = ["Must be a string."]
    time_zone = config.get("time_zone")
    if time_zone is not None and (not isinstance(time_zone, str) or time_zone not in time_zone_names()):
        errors["time_zone"] = [f"Unknown time zone {str(time_zone)[:64]!r}; use an IANA name such as "
                               "Europe/Paris, or leave it out."]
    if config.get("scheduled_events") is None:  # most children of a big tree: nothing to check
        events, below = dict.fromkeys(Kind.VOTING), above
    else:
        events, event_errors = scheduled_events_and_errors(config["scheduled_events"], partial=False)
        window = _check_events(events, event_errors, above, now,
                               name=election_name(title.strip() if isinstance(title, str) else "(no title)",
                                                  where=f"at {_where(path)} in this upload"))
        below = [window, *above] if window.times else above
        if event_errors:
            errors["scheduled_events"] = event_errors
    sections = {}
    for key, section in SECTIONS.items():
        if config.get(key) is not None:
            try:
                sections[key] = section.parse(config[key])
            except InvalidInput as exc:
                errors[key] = exc.detail.get(key, exc.detail)
    children_config = config.get("children") or []
    children = []
    if not isinstance(children_config, list):
        errors["children"] = ["Must be a list of election configurations."]
    else:
        child_errors = {}
        for index, child in enumerate(children_config):
            spec, errors_of_child = _parse(child, counter=counter, path=(*path, index),
                                           above=below, now=now)
            children.append(spec)
            if errors_of_child:
                child_errors[str(index)] = errors_of_child
        if child_errors:
            errors["children"] = child_errors
    if errors:
        return None, errors
    return ElectionSpec(title.strip(), description, events, children, time_zone, sections), {}


def _where(path: tuple[int, ...]) -> str:
    """``children[3].children[0]``; ``the top`` for the top election."""
    return ".".join(f"children[{index}]" for index in path) or "the top"


def _check_events(events: dict, errors: dict, above: list[Window], now: datetime, *, name: str) -> Window:
    """Add to ``errors`` (keyed like ``scheduled_events``) what the schedule rules of ``configuring``
    refuse in a new election's ``events``; return its window for its children, without the times
    refused (a child is checked against what its parent will have once that is fixed)."""
    target = {kind: events.get(kind) for kind in Kind.VOTING}
    changed = {kind for kind, at in target.items() if at is not None}
    refused = own_schedule_errors(target, changed, status=Status.NOT_STARTED, now=now)
    if not refused:
        refused = window_errors(target, changed, above=above)
    for kind, messages in refused.items():
        errors.setdefault(kind, {}).setdefault("event_at", []).extend(messages)
    return Window(name, {kind: at for kind, at in target.items() if at is not None and kind not in errors})


def _apply_sections(spec: ElectionSpec, election: Election, actor, path: list[str]) -> None:
    for key, parsed in spec.sections.items():
        try:
            SECTIONS[key].apply(election, parsed, actor)
        except InvalidInput as exc:
            raise InvalidInput(_nest(path, {key: exc.detail.get(key, exc.detail)})) from exc


def _nest(path: list[str], detail: dict) -> dict:
    for key in reversed(path):
        detail = {key: detail}
    return detail
