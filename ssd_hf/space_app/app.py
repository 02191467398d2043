"""The Space's entry point (`app_file: app.py`): start the base-vs-SSD comparison app.

This is the canonical copy: `spaces_demo/app.py` links here and `ssd-hf space push` copies it to the root
of a Space, next to a copy of the `ssd_hf` package. It puts that package first on the path (beside this file
in a Space, one folder up in a source checkout; otherwise the installed one is used), and reads the
`config.yaml` beside this file unless SSD_SPACE_CONFIG names another.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
for folder in (HERE, os.path.dirname(HERE)):
    if os.path.isfile(os.path.join(folder, "ssd_hf", "__init__.py")):
        sys.path.insert(0, folder)
        break

if __name__ == "__main__":
    from ssd_hf.space_app.ui import main

    main(os.path.join(HERE, "config.yaml"))
