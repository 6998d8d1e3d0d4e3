"""An operation the automations tests register: it records each call in the activity log.

Imported by the tests (this process) and by the worker they start (``-I
tests.automation_ops``), so a run executed by the real worker records its call, in the
run's transaction: a call that rolls back leaves no row. Each row says which run called,
and the recipients it resolved (``notifications.recipients.resolve``) at that moment.
"""

from activity_log.models import ActivityEntry
from elections.errors import InvalidInput
from notifications.recipients import resolve
from scheduling import operations

CALLED = "test_operation_called"
TEMPLATES = {"voting-closes-soon", "weekly"}


def record_call(ctx, params: dict) -> dict:
    resolution = resolve((ctx.run.payload or {}).get("recipients") or {}, ctx.election, ctx.now)
    ActivityEntry.objects.create(
        election_id=ctx.run.election_id or 0, election_title="(test)", action=CALLED,
        metadata={"task_id": ctx.run.task_id, "run_id": ctx.run.pk, "template": params.get("template"),
                  "recipients": resolution.usernames, "left_out": resolution.left_out})
    return {"recipients": len(resolution.users)}


def validate(params: dict, scope: str) -> dict:
    unknown = [key for key in params if key != "template"]
    if unknown:
        raise InvalidInput({unknown[0]: ["Unknown parameter; only template."]})
    template = params.get("template", "weekly")
    if template not in TEMPLATES:
        raise InvalidInput({"template": [f"No template {template!r}; use one of {sorted(TEMPLATES)}."]})
    return {"template": template}


def calls(**metadata) -> list[ActivityEntry]:
    rows = ActivityEntry.objects.filter(action=CALLED).order_by("id")
    return [row for row in rows if all(row.metadata.get(k) == v for k, v in metadata.items())]


operations.register("record_call", run=record_call, validate=validate, scopes={"election", "global"})
