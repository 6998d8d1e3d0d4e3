"""The operation registry: what a run can do, registered by the app that owns each operation.

``scheduling`` executes runs without importing the apps above it: each app registers
its operations in ``AppConfig.ready()`` (``suspend_voting``/``resume_voting`` here,
``maintenance`` from ``config`` via ``scheduling.apps``, emails by ``notifications``).
An operation runs inside the run's transaction with a ``RunContext``; it returns
counts for the run's result, or raises ``RunSkipped`` with a reason a person reads.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from elections.errors import InvalidInput, TransitionNotAllowed
from elections.models import TRANSITIONS, Election, StatusAction
from elections.services import LockedTrees, StatusChange, Transition

from .models import ScheduledEvent

SCOPES = frozenset({"election", "global"})


class RunSkipped(Exception):
    """Raise with a reason a person reads: the run is skipped, and nothing it did is kept."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RunContext:
    """What an operation may use: the locked run, its election (tree locked), the time, status changes."""

    def __init__(self, run: ScheduledEvent, trees: LockedTrees, now: datetime):
        self.run, self.trees, self.now = run, trees, now
        self.transitions: list[Transition] = []

    @cached_property
    def election(self) -> Election | None:
        """The run's election (its tree is locked), or None for a global run."""
        if self.run.election_id is None:
            return None
        return Election.objects.filter(pk=self.run.election_id).first()

    def change_status(self, action: str) -> list[StatusChange]:
        """Apply ``action`` to the run's election and every descendant that allows it, as the buttons do.

        Written with the run's outcome, logged on behalf of whoever scheduled the run.
        Raises ``RunSkipped`` when the election's own status does not allow it.
        """
        pk = self.run.election_id
        if pk is None or pk not in self.trees:
            raise RunSkipped("the run has no election to change")
        automation = (self.run.payload or {}).get("automation") or {}
        try:
            transition = self.trees.transition(
                pk, action, on_behalf_of=self.run.scheduled_by,
                metadata={"source": "automation", "kind": "automation", "task_id": self.run.task_id,
                          "automation": automation.get("name") or automation.get("id")})
        except TransitionNotAllowed:
            raise RunSkipped(
                f"{action} is not allowed: the election is {self.trees.status(pk)} "
                f"(needs {' or '.join(sorted(TRANSITIONS[action][0]))})") from None
        self.transitions.append(transition)
        return transition.changes


@dataclass(frozen=True)
class Operation:
    name: str
    run: Callable[[RunContext, dict], dict]
    validate: Callable[[dict, str], dict]
    scopes: frozenset[str]
    writes: bool = True


_registry: dict[str, Operation] = {}


def register(name: str, *, run: Callable[[RunContext, dict], dict], validate: Callable[[dict, str], dict],
             scopes: set[str], writes: bool = True) -> None:
    """Make ``name`` available to runs in ``scopes`` (``election``, ``global``); again replaces it.

    ``run(ctx, params)`` returns counts merged into the run's result; ``validate(params, scope)``
    returns canonical params or raises ``InvalidInput`` keyed by parameter. ``writes=False``
    promises that ``run`` writes nothing to the database itself (it only reads, or changes
    statuses through ``ctx.change_status``, which are written with the run's outcome): a run
    of such operations only needs no savepoint to undo a skip, and saves two round trips.
    """
    if not scopes or not set(scopes) <= SCOPES:
        raise ValueError(f"scopes must be a non-empty subset of {sorted(SCOPES)}, not {scopes!r}")
    _registry[name] = Operation(name, run, validate, frozenset(scopes), writes)


def unregister(name: str) -> None:
    """Forget ``name`` (tests register operations of their own)."""
    _registry.pop(name, None)


def get(name: str) -> Operation:
    """The registered operation; ``LookupError`` when none is (a run then fails, naming it)."""
    try:
        return _registry[name]
    except KeyError:
        raise LookupError(f"no operation {name!r} is registered") from None


def names(scope: str) -> list[str]:
    """The operations available in ``scope``, sorted."""
    return sorted(name for name, op in _registry.items() if scope in op.scopes)


def validate(operations, *, scope: str) -> dict:
    """Canonical operations (name -> params, order kept), or ``InvalidInput`` naming
    ``operations``, ``operations.<name>`` or ``operations.<name>.<param>``."""
    if not isinstance(operations, dict) or not operations:
        raise InvalidInput({"operations": [
            f"Give at least one operation as an object, e.g. {{\"{(names(scope) or ['name'])[0]}\": {{}}}}; "
            f"available here: {', '.join(names(scope)) or 'none'}."]})
    canonical, errors = {}, {}
    for name, params in operations.items():
        key = f"operations.{name}"
        op = _registry.get(name)
        if op is None or scope not in op.scopes:
            where = "" if op is None else f" for {scope} automations"
            errors[key] = [f"Unknown operation{where}; choose one of: {', '.join(names(scope)) or 'none'}."]
            continue
        if params is None:
            params = {}
        if not isinstance(params, dict):
            errors[key] = ["Must be an object of parameters, e.g. {}."]
            continue
        try:
            canonical[name] = op.validate(params, scope)
        except InvalidInput as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"": exc.detail}
            for param, messages in detail.items():
                errors[f"{key}.{param}" if param else key] = messages
    if errors:
        raise InvalidInput(errors)
    return canonical


def no_params(params: dict, scope: str) -> dict:
    """``validate`` for operations that take no parameters."""
    if params:
        raise InvalidInput({name: ["Unknown parameter; this operation takes none: send {}."]
                            for name in params})
    return {}


def suspend_voting(ctx: RunContext, params: dict) -> dict:
    """Suspend voting in the run's election and its descendants that are open."""
    return {"status_changes": len(ctx.change_status(StatusAction.SUSPEND))}


def resume_voting(ctx: RunContext, params: dict) -> dict:
    """Resume voting in the run's election and its suspended descendants."""
    return {"status_changes": len(ctx.change_status(StatusAction.RESUME))}
