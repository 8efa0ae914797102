"""An interpreter whose user site is on, so `pip install --user` works in a notebook.

A virtualenv made without system site packages (like the console's own .venv) turns the user
site off, and pip then refuses `--user`. For such an image the node runs its notebooks with a
thin layered virtualenv instead: made with --system-site-packages (which keeps the user site on)
and a .pth file that puts the image's own site-packages on the path, so every package of the
image is there and what the user installs with --user lands in PYTHONUSERBASE (the work folder).
Made once per image on the node, in a temporary folder renamed into place, so two notebooks
starting at once agree (a venv without pip holds no absolute path that a rename would break).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from django.conf import settings

SITE_PATHS = "import json, sysconfig; p = sysconfig.get_paths(); print(json.dumps([p['purelib'], p['platlib']]))"


def user_site_is_off(python: str) -> bool:
    """True for a virtualenv made without system site packages (pip refuses --user there)."""
    config = Path(python).parent.parent / "pyvenv.cfg"
    if not config.is_file():
        return False
    for line in config.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "include-system-site-packages":
            return value.strip().lower() != "true"
    return True


def user_site_python(python: str) -> str:
    """``python`` itself when its user site is on, else the layered interpreter made for it."""
    if not user_site_is_off(python):
        return python
    digest = hashlib.sha256(os.path.abspath(python).encode()).hexdigest()[:16]
    target = Path(settings.TRAINING_WORK_DIR) / "notebook-images" / digest
    layered = target / "bin" / "python"
    if layered.exists():
        return str(layered)
    image_paths = json.loads(
        subprocess.run([python, "-c", SITE_PATHS], capture_output=True, text=True, check=True, timeout=60).stdout
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{digest}-", dir=target.parent))
    try:
        subprocess.run(
            [python, "-m", "venv", "--system-site-packages", "--without-pip", "--clear", str(building)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        own = json.loads(
            subprocess.run(
                [str(building / "bin" / "python"), "-c", SITE_PATHS],
                capture_output=True,
                text=True,
                check=True,
                timeout=60,
            ).stdout
        )
        purelib = Path(own[0])
        purelib.mkdir(parents=True, exist_ok=True)
        (purelib / "notebook-image.pth").write_text("\n".join(dict.fromkeys(image_paths)) + "\n")
        try:
            building.rename(target)
        except OSError:  # another notebook made it first: use theirs
            pass
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return str(layered)
