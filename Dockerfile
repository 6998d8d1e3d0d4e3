# One image for web (gunicorn), worker and beat; see docker-compose.yml.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DATA_DIR=/app/data
WORKDIR /app
# Everything but what .dockerignore leaves out: a list of app folders here fell behind
# INSTALLED_APPS (accounts, automations), and the image could not start.
COPY . ./
# Static files are collected into the image: DEBUG is off, so whitenoise serves only what
# is in STATIC_ROOT, and the migrate service's copy would stay in that container.
# The throwaway SECRET_KEY keeps a generated one out of the image.
RUN pip install --no-cache-dir -e . \
    && SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --create-home --uid 1000 app \
    && mkdir -p /app/data && chown -R app /app/data
USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
