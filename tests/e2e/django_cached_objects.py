# Prints, one hex pickle a line, what a Django 5.1 site caches (the page cache's HttpResponse with
# its cookies, a JsonResponse, a SafeString, a model instance, AnonymousUser, an aware datetime,
# a lazy translation), pickled by the running interpreter at protocols 2, 4 and 5. Used by
# tests/security.rs: none of these may be a security finding. Needs Django on PYTHONPATH.
import pickle
import sys

import django
from django.conf import settings

settings.configure(
    DEFAULT_CHARSET="utf-8",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
)
django.setup()

from django.contrib.auth.models import AnonymousUser, User  # noqa: E402
from django.http import HttpResponse, JsonResponse  # noqa: E402
from django.utils import timezone  # noqa: E402
from django.utils.safestring import mark_safe  # noqa: E402

page = HttpResponse("<p>caf\u00e9</p>")
page.set_cookie("sessionid", "abc", max_age=3600)
values = [
    page,
    JsonResponse({"a": 1}),
    mark_safe("<b>x</b>"),
    User(username="zoe", date_joined=timezone.now()),
    AnonymousUser(),
    timezone.now(),
]
for v in values:
    for p in (2, 4, 5):
        sys.stdout.write(pickle.dumps(v, p).hex() + "\n")
