"""``manage.py bootstrap``: migrate, collect static files and create the first superuser.

The superuser comes from DJANGO_SUPERUSER_USERNAME / DJANGO_SUPERUSER_PASSWORD
when set (created once). With ``--generate-admin`` and no user at all, an
``admin`` superuser with a random password is created and the password printed.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Migrate, collect static files and create the first superuser."

    def add_arguments(self, parser):
        parser.add_argument("--generate-admin", action="store_true",
                            help="With no user at all, create 'admin' with a printed random password.")

    def handle(self, *args, generate_admin=False, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("createcachetable", verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        users = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD")
        if username and password:
            if not users.objects.filter(username=username).exists():
                users.objects.create_superuser(username=username, password=password,
                                               email=os.environ.get("DJANGO_SUPERUSER_EMAIL", ""))
                self.stdout.write(f"Created superuser {username!r} from DJANGO_SUPERUSER_USERNAME/PASSWORD.")
        elif generate_admin and not users.objects.exists():
            generated = secrets.token_urlsafe(12)
            users.objects.create_superuser(username="admin", password=generated, email="")
            self.stdout.write(
                f"\n  First start: created superuser 'admin' with password {generated!r}\n"
                "  (set DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD to choose your own)\n"
            )
