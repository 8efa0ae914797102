"""Shared fixtures: people and projects, signed-in clients, Chromium, a real Celery worker."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from console.accounts.models import Membership, Organization, Profile, Project, Role

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery-9"


# --- people and projects -------------------------------------------------------


@pytest.fixture
def org(db):
    return Organization.objects.create(name="acme")


def make_user(org, username, *, site_admin=False, password=PASSWORD):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=username, password=password, is_staff=site_admin)
    Profile.objects.create(user=user, organization=org)
    return user


@pytest.fixture
def make_member(org):
    """make_member(project, "alice", Role.MEMBER) -> user in that project."""

    def make(project, username, role=Role.MEMBER):
        user = make_user(org, username)
        Membership.objects.create(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def site_admin(org):
    return make_user(org, "root", site_admin=True)


@pytest.fixture
def project(org):
    return Project.objects.create(organization=org, name="vision")


@pytest.fixture
def other_project(org):
    return Project.objects.create(organization=org, name="secret")


@pytest.fixture
def member(project, make_member):
    return make_member(project, "mia", Role.MEMBER)


@pytest.fixture
def viewer(project, make_member):
    return make_member(project, "vic", Role.VIEWER)


@pytest.fixture
def project_admin(project, make_member):
    return make_member(project, "pam", Role.ADMIN)


@pytest.fixture
def client_for(client):
    """client_for(user) -> the test client signed in as that user."""

    def sign_in(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return sign_in


# --- browser ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "headless": True,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ],
    }


@pytest.fixture
def sign_in_page(page, live_server):
    """sign_in_page(username) -> the Playwright page signed in through the real form."""

    def sign_in(username, password=PASSWORD):
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("networkidle")
        return page

    return sign_in


SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


@pytest.fixture
def screenshot(page):
    """screenshot("name") saves a full-page PNG under test-artifacts/screenshots/."""

    def take(name):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    return take


# --- a real Celery worker ----------------------------------------------------------


def _database_url_for_subprocess() -> str:
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


class WorkerProcess:
    """A real `celery worker` (and optionally beat) on the test database and broker."""

    def __init__(self, queues="platform", name="testworker", beat=False, extra_env=None):
        self.queues, self.name, self.beat, self.extra_env = queues, name, beat, extra_env or {}
        self.process = None
        self.log_path = ROOT / "test-artifacts" / f"{name}.log"

    def env(self):
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="tests.settings",
            DATABASE_URL=_database_url_for_subprocess(),
            CONSOLE_VAR_DIR=str(settings.VAR_DIR),
            PYTHONUNBUFFERED="1",
        )
        if settings.REDIS_URL:
            env["REDIS_URL"] = settings.REDIS_URL
        env.update(self.extra_env)
        return env

    def start(self):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console",
            "worker",
            "--loglevel",
            "INFO",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--queues",
            self.queues,
            "--hostname",
            f"{self.name}@%h",
            "--without-mingle",
            "--without-gossip",
        ]
        if self.beat:
            command += ["--beat", "--schedule", str(settings.VAR_DIR / f"beat-{self.name}")]
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=self.env(), stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if " ready." in self.log_path.read_text():
                return
            time.sleep(0.3)
        raise RuntimeError(f"worker not ready in {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def child_pids(self):
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if getattr(self, "log", None):
            self.log.close()


@pytest.fixture
def celery_worker_process(transactional_db):
    """Start real workers: celery_worker_process(queues=..., beat=True) -> WorkerProcess. Stopped after the test."""
    started = []

    def start(**kwargs):
        worker = WorkerProcess(**kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(autouse=True)
def _purge_test_broker(request):
    """Each integration test starts with an empty broker (Redis db 15 in the test command)."""
    if "celery_worker_process" in request.fixturenames and settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    yield


@pytest.fixture(autouse=True)
def _english_by_default():
    """Requests activate the user's language on the test thread and Django never resets it:
    without this, a test after a Chinese request would read Chinese messages."""
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
