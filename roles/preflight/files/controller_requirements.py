# Read-only check of the controller's Python against the collection's requirements.txt, run by
# preflight (tasks/controller.yml) with the Python to check:
#   <python> controller_requirements.py <path of requirements.txt>
# Prints one JSON object {"python": ..., "problems": [...]}: for each requirement, whether its
# distribution is installed, in the required range, and whether its modules import. Needs only the
# standard library (packaging, when present, checks the version range).
import importlib
import importlib.metadata
import json
import re
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # the range is then not checked, presence and import still are
    Requirement = None

NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirements(path):
    with open(path, encoding="utf-8") as handle:
        for raw in handle:
            line = raw.split("#", 1)[0].strip()
            if line:
                yield line


def top_level_modules(name):
    """The import names a distribution provides (its top_level.txt, else its own name)."""
    dist = importlib.metadata.distribution(name)
    listed = (dist.read_text("top_level.txt") or "").split()
    if listed:
        return listed
    mapping = importlib.metadata.packages_distributions()
    found = sorted(mod for mod, dists in mapping.items() if name.lower() in (d.lower() for d in dists))
    return found or [name.replace("-", "_")]


def check(line):
    name = NAME.match(line).group(1)
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return f"{name} is not installed (requirements.txt: {line})"
    if Requirement is not None:
        spec = Requirement(line).specifier
        if not spec.contains(version, prereleases=True):
            return f"{name} {version} is installed, outside the range (requirements.txt: {line})"
    for module in top_level_modules(name):
        if module.startswith("_"):
            continue
        try:
            importlib.import_module(module)
        except Exception as err:  # an installed but broken package: report it, do not crash
            return f"{name} {version} is installed but `import {module}` fails: {err}"
    return None


def main():
    problems = [p for p in (check(line) for line in requirements(sys.argv[1])) if p]
    print(json.dumps({"python": sys.executable, "problems": problems}))


if __name__ == "__main__":
    main()
