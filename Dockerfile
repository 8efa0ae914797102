# ModelArts Console: one image for web (uvicorn: the front door), worker and beat (celery).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONSOLE_VAR_DIR=/data \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

# gettext compiles the translation catalogs; nothing else is needed beyond the wheels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Translations compiled and static files collected (hashed and compressed for whitenoise)
# at build time. Production mode, so no secret key file is written into the image; this
# key only lets settings load here, the running containers get theirs from the environment.
RUN export CONSOLE_PRODUCTION=1 SECRET_KEY=build-time-only-not-used-at-run-time \
    && python manage.py compilemessages -v 0 \
    && python manage.py collectstatic --noinput -v 0

# Run as an unprivileged user; /data (local buckets, beat's schedule) is its volume.
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin console \
    && mkdir -p /data \
    && chown -R console:console /data
USER console
VOLUME ["/data"]

EXPOSE 8000
CMD ["uvicorn", "console.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "3", \
     "--ws", "websockets-sansio", "--proxy-headers", "--forwarded-allow-ips", "*", "--no-server-header"]
