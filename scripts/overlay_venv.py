"""Make a virtual environment that sees the packages of the interpreter running this script, its own installs first.

`python -m venv --system-site-packages` sees the *base* interpreter's packages, not those of the venv or conda env
a user runs from. Here the new environment's site-packages holds a .pth file that adds the running environment's
site-packages folders after its own (and reads their .pth files: editable installs), so installing a package into
the new environment shadows the running one's copy. Used by scripts/setup.sh (.venv-newest) and tests/test_wheel.py.

    python scripts/overlay_venv.py DIR    (makes DIR afresh, without pip: the running environment's pip serves)
"""

from __future__ import annotations

import os
import site
import subprocess
import sys


def running_site_dirs() -> list[str]:
    """The site-packages folders of this interpreter's environment (user site included when it is on)."""
    dirs = list(site.getsitepackages())
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        dirs.append(site.getusersitepackages())
    return [d for i, d in enumerate(dirs) if os.path.isdir(d) and d not in dirs[:i]]


def make_overlay_venv(target: str) -> str:
    """Create the environment at `target`; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--clear", "--without-pip", target], check=True)
    python = os.path.join(target, "bin", "python")
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], check=True,
                         capture_output=True, text=True).stdout.strip()
    lines = [f"import site; site.addsitedir({d!r})" for d in running_site_dirs()]
    with open(os.path.join(own, "_running_env.pth"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return python


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    print(make_overlay_venv(sys.argv[1]))
