"""A test operation, ``ping``: registered on import, in the test process and in a real worker
(``celery worker --include tests.run_operations``), so runs can be delivered end to end
before any app above scheduling registers operations of its own."""

from elections.errors import InvalidInput
from scheduling import operations


def ping(ctx, params: dict) -> dict:
    """Counts one ping; ``skip`` skips the run with that reason, ``fail`` raises that error."""
    if params.get("skip"):
        raise operations.RunSkipped(params["skip"])
    if params.get("fail"):
        raise RuntimeError(params["fail"])
    return {"pings": 1}


def validate(params: dict, scope: str) -> dict:
    unknown = set(params) - {"skip", "fail"}
    if unknown:
        raise InvalidInput({name: ["Unknown parameter; use skip or fail."] for name in unknown})
    return dict(params)


operations.register("ping", run=ping, validate=validate, scopes={"election", "global"})
