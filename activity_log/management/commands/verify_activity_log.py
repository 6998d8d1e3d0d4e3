"""``manage.py verify_activity_log``: walk the hash chain and report the first broken link.

Exit status 0 when the chain holds, 1 (CommandError) at the first break, naming the
row id and what differs. ``--last N`` checks only the newest N rows.
"""

from django.core.management.base import BaseCommand, CommandError

from activity_log.services import verify_chain


class Command(BaseCommand):
    help = "Check the activity log's hash chain; exit non-zero at the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--last", type=int, default=None, metavar="N",
                            help="check only the newest N rows (default: all)")

    def handle(self, *args, last=None, **options):
        if last is not None and last < 1:
            raise CommandError("--last must be a positive number of rows.")
        result = verify_chain(last=last)
        if not result.ok:
            where = f"row {result.broken_id}" if result.broken_id is not None else "the end of the chain"
            raise CommandError(f"activity log chain broken at {where} after {result.rows_checked} "
                               f"good rows: {result.reason}")
        self.stdout.write(f"activity log chain ok: {result.rows_checked} rows checked")
