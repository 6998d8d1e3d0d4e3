from django.contrib import admin

from .forms import AdminLoginForm

# The admin's log-in form names a refusal by the login limiter instead of "wrong password".
admin.site.login_form = AdminLoginForm
