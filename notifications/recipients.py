"""Who an automation's run is for: the recipients spec, validated on save, resolved when the run fires.

A spec (canonical form, every key present)::

    {"users": ["alice", "bob@example.org"], "groups": ["observers"], "grants": ["edit"],
     "include_inactive_users": false, "include_inactivated_users": false,
     "only_inactive_users": false, "only_inactivated_users": false}

* ``users``: usernames, or e-mail addresses of accounts (every account with that address);
* ``groups``: Django group names (their members);
* ``grants``: ``view``, ``schedule-events`` or ``edit``: whoever holds that grant, or a
  higher one, on the run's election or an ancestor (superusers only through a grant).

Every account is in exactly one class: **inactivated** (``is_active`` false), else
**inactive** (no log-in, or since it joined when it never logged in, for
``INACTIVE_USER_DAYS`` days), else **active**. The classes a run keeps are::

    kept = ({active} unless an only_* flag is set) | {c for c in (inactive, inactivated)
                                                     if include_c or only_c}

The table of all sixteen combinations is in docs/automations.md; ``resolve`` leaves
the others out and says why, by username.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import Q

from elections.errors import InvalidInput
from elections.models import PERMISSION_RANK, ElectionGrant, Permission
from elections.selectors import ancestor_paths

LISTS = ("users", "groups", "grants")
FLAGS = ("include_inactive_users", "include_inactivated_users",
         "only_inactive_users", "only_inactivated_users")
ACTIVE, INACTIVE, INACTIVATED = "active", "inactive", "inactivated"
#: The reasons ``resolve`` gives for leaving an account out.
REASONS = {
    INACTIVE: "no log-in for INACTIVE_USER_DAYS days",
    INACTIVATED: "account deactivated",
    "unknown": "no such user any more",
}
MAX_NAMES = 1000


@dataclass(frozen=True)
class Resolution:
    """The accounts a run is for (ordered by username), and those left out by reason."""

    users: list = field(default_factory=list)
    left_out: dict[str, list[str]] = field(default_factory=dict)

    @property
    def usernames(self) -> list[str]:
        return [user.username for user in self.users]


def empty_spec() -> dict:
    return {**{name: [] for name in LISTS}, **dict.fromkeys(FLAGS, False)}


def kept_classes(spec: dict) -> set[str]:
    """The classes of account a spec keeps (see the module docstring)."""
    only = spec.get("only_inactive_users") or spec.get("only_inactivated_users")
    kept = set() if only else {ACTIVE}
    if spec.get("include_inactive_users") or spec.get("only_inactive_users"):
        kept.add(INACTIVE)
    if spec.get("include_inactivated_users") or spec.get("only_inactivated_users"):
        kept.add(INACTIVATED)
    return kept


def account_class(user, now: datetime) -> str:
    """``inactivated``, ``inactive`` or ``active`` for this account at ``now``."""
    if not user.is_active:
        return INACTIVATED
    seen = user.last_login or user.date_joined
    if seen is None or seen <= now - timedelta(days=settings.INACTIVE_USER_DAYS):
        return INACTIVE
    return ACTIVE


# --- validation (on save) ----------------------------------------------------------------

def validate(data, *, scope: str, election_needed_for_grants: bool = False) -> dict:
    """The canonical spec of ``data``, or ``InvalidInput`` keyed ``recipients.<field>``.

    Unknown users (by name or address) and groups are refused, as are unknown grant
    levels, and grants on a global automation that has no election to read them from
    (``election_needed_for_grants``).
    """
    if data is None:
        return empty_spec()
    if not isinstance(data, dict):
        raise InvalidInput({"recipients": [
            'Must be an object like {"users": ["alice"], "groups": ["observers"], "grants": ["edit"]}.']})
    errors: dict = {}
    spec = empty_spec()
    for key in data:
        if key not in (*LISTS, *FLAGS):
            errors[str(key)[:60]] = [f"Unknown field; use {', '.join((*LISTS, *FLAGS))}."]
    for name in LISTS:
        value = data.get(name, [])
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors[name] = [f"Must be a list of strings, e.g. {_EXAMPLES[name]}."]
            continue
        if len(value) > MAX_NAMES:
            errors[name] = [f"Has {len(value)} entries; give at most {MAX_NAMES} (use a group)."]
            continue
        spec[name] = list(dict.fromkeys(v.strip() for v in value if v.strip()))
    for flag in FLAGS:
        value = data.get(flag, False)
        if not isinstance(value, bool):
            errors[flag] = ["Must be true or false."]
        else:
            spec[flag] = value
    if "users" not in errors:
        missing = _unknown_users(spec["users"])
        if missing:
            errors["users"] = [f"No account with the username or e-mail address {_quoted(missing)}; "
                               "check the spelling, or create the account first."]
    if "groups" not in errors:
        known = set(Group.objects.filter(name__in=spec["groups"]).values_list("name", flat=True))
        missing = [g for g in spec["groups"] if g not in known]
        if missing:
            errors["groups"] = [f"No group named {_quoted(missing)}; create it in the admin first."]
    if "grants" not in errors:
        wrong = [g for g in spec["grants"] if g not in Permission.values]
        if wrong:
            errors["grants"] = [f"Unknown grant {_quoted(wrong)}; use {', '.join(Permission.values)}."]
        elif spec["grants"] and scope == "global" and election_needed_for_grants:
            errors["grants"] = ["A global automation has no election to read grants from (only "
                                "one triggered by an election's status change has); name users "
                                "or groups instead."]
    if errors:
        raise InvalidInput({f"recipients.{key}": messages for key, messages in errors.items()})
    return spec


_EXAMPLES = {"users": '["alice", "bob@example.org"]', "groups": '["observers"]', "grants": '["edit"]'}


def _quoted(names: list[str]) -> str:
    shown = ", ".join(f"'{n[:60]}'" for n in names[:5])
    return shown + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _user_filter(names: list[str]) -> Q:
    addresses = [n for n in names if "@" in n]
    query = Q(username__in=names)
    for address in addresses:
        query |= Q(email__iexact=address)
    return query


def _unknown_users(names: list[str]) -> list[str]:
    if not names:
        return []
    rows = get_user_model().objects.filter(_user_filter(names)).values_list("username", "email")
    found = {username for username, _ in rows} | {email.lower() for _, email in rows if email}
    return [n for n in names if n not in found and n.lower() not in found]


# --- resolution (when the run fires) ------------------------------------------------------

def resolve(spec: dict, election, now: datetime) -> Resolution:
    """The accounts ``spec`` names at ``now`` (for ``election``, or None for a global run).

    Users named directly, members of the groups and holders of the grants (on the
    election or an ancestor) are united, each once; then the classes the flags do
    not keep are left out, by reason (``inactive``, ``inactivated``), and names that
    no longer match an account are reported under ``unknown``.
    """
    spec = {**empty_spec(), **(spec or {})}
    User = get_user_model()
    query = Q(pk__in=[])
    if spec["users"]:
        query |= _user_filter(spec["users"])
    if spec["groups"]:
        query |= Q(groups__name__in=spec["groups"])
    if spec["grants"] and election is not None:
        query |= Q(pk__in=_grant_holders(election.pk, spec["grants"]))
    candidates = list(User.objects.filter(query).distinct().order_by("username"))
    left_out: dict[str, list[str]] = {}
    missing = _missing_names(spec["users"], candidates)
    if missing:
        left_out["unknown"] = missing
    kept = kept_classes(spec)
    users = []
    for user in candidates:
        cls = account_class(user, now)
        if cls in kept:
            users.append(user)
        else:
            left_out.setdefault(cls, []).append(user.username)
    return Resolution(users, left_out)


def _missing_names(names: list[str], users: list) -> list[str]:
    found = {u.username for u in users} | {u.email.lower() for u in users if u.email}
    return [n for n in names if n not in found and n.lower() not in found]


def _grant_holders(election_id: int, levels: list[str]) -> list[int]:
    """Ids of the users holding at least the lowest of ``levels`` on the election or an ancestor."""
    needed = min(PERMISSION_RANK[level] for level in levels)
    enough = [perm for perm, rank in PERMISSION_RANK.items() if rank >= needed]
    path = ancestor_paths([election_id]).get(election_id, [election_id])
    return list(ElectionGrant.objects.filter(election_id__in=path, permission__in=enough)
                .values_list("user_id", flat=True))
