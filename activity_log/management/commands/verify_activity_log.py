"""``manage.py verify_activity_log``: walk the seal chain and report the first broken link.

Exit status 0 when every seal holds and no entry older than the grace period is
unsealed; 1 (CommandError) otherwise, naming the seal number and/or entry id and
what differs. Either way it prints the chain's end (seal number and hash): keep that
line somewhere outside the database to catch a rewrite of the whole chain's tail.
``--last N`` checks only the newest N seals (and only recent entries for unsealed ones).
"""

from django.core.management.base import BaseCommand, CommandError

from activity_log.sealing import verify_chain


class Command(BaseCommand):
    help = "Check the activity log's seal chain; exit non-zero at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--last", type=int, default=None, metavar="N",
                            help="check only the newest N seals (default: all)")

    def handle(self, *args, last=None, **options):
        if last is not None and last < 1:
            raise CommandError("--last must be a positive number of seals.")
        result = verify_chain(last=last)
        if not result.ok:
            where = ", ".join(f"{name} {value}" for name, value in
                              (("seal", result.seq), ("entry", result.entry_id)) if value is not None)
            raise CommandError(f"activity log broken{f' at {where}' if where else ''}: {result.summary()}")
        self.stdout.write(f"activity log {result.summary()}")
