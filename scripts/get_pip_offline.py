"""Offline stand-in for the get-pip.py bootstrap script that ansible-test downloads.

ansible-test runs the script it caches under ~/.ansible/test/cache/get_pip_<version>.py to put
pip into each of its virtualenvs. The official script embeds a pip wheel and is fetched from a
host these machines cannot reach. This one does the same job with the pip wheel CPython bundles
in ensurepip: it imports pip from that wheel and installs the requested packages (pip itself
from PyPI, which is reachable). Used by scripts/setup.sh only.
"""

import ensurepip
import glob
import os
import sys


def main():
    """Install the packages named on the command line with pip run from ensurepip's wheel."""
    bundled = os.path.join(os.path.dirname(ensurepip.__file__), "_bundled")
    wheels = sorted(glob.glob(os.path.join(bundled, "pip-*.whl")))
    if not wheels:
        sys.exit("get_pip_offline: no bundled pip wheel in %s" % bundled)
    sys.path.insert(0, wheels[-1])
    # pip can only be imported once its wheel is on sys.path.
    pip_main = __import__("pip._internal.cli.main", fromlist=["main"]).main

    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    sys.exit(pip_main(["install", "--upgrade", "--force-reinstall", *args]))


if __name__ == "__main__":
    main()
