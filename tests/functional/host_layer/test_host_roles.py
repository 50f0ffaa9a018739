"""Static checks of the host-layer roles (step 1): argument specs match the defaults exactly, the
tags follow the conventions, secret-bearing tasks are no_log. What the roles do is tested for real
in molecule/cluster."""

import json
import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES = ROOT / "roles"
ALL = ["node_prep", "container_runtime", "kubernetes_packages", "api_endpoint"]


def _load(role, rel):
    return yaml.safe_load((ROLES / role / rel).read_text())


def _task_files(role):
    return sorted((ROLES / role / "tasks").glob("*.yml"))


@pytest.mark.parametrize("role", ALL)
def test_every_default_is_documented_with_its_default(role):
    defaults = _load(role, "defaults/main.yml")
    options = _load(role, "meta/argument_specs.yml")["argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert name.startswith(role + "_"), name
        assert options[name]["default"] == value, name
        assert options[name]["description"], name
    readme = (ROLES / role / "README.md").read_text()
    assert "Tested" in readme


@pytest.mark.parametrize("role", ALL)
def test_tasks_are_named_tagged_and_fully_qualified(role):
    assert _load(role, "meta/main.yml")["dependencies"] == [{"role": "orchestrator.platform.cluster"}]
    for path in _task_files(role):
        for task in yaml.safe_load(path.read_text()):
            assert task.get("name"), (path, task)
            module = next(k for k in task if "." in k and k.split(".")[0] in ("ansible", "community", "orchestrator"))
            assert module.count(".") == 2, module
            tags = set(task.get("tags", []))
            kinds = ("install", "configure", "service")
            ok = tags == {"always"} or any({role, f"{role}_{kind}"} <= tags for kind in kinds)
            assert ok, (path.name, task["name"], tags)
            for key in task:
                if key.startswith("__") or key == "register":
                    assert str(task[key]).startswith(f"__{role}_"), task["register"]


def test_secret_bearing_tasks_are_no_log():
    runtime = yaml.safe_load((ROLES / "container_runtime/tasks/main.yml").read_text())
    hosts = next(t for t in runtime if "hosts.toml" in t["name"])
    entries = hosts["orchestrator.platform.host_files"]["files"]
    toml = next(e for e in entries if e.get("src") == "etc/containerd/hosts.toml.j2")
    assert hosts["no_log"] is True and toml["mode"] == "0600"
    endpoint = yaml.safe_load((ROLES / "api_endpoint/tasks/main.yml").read_text())
    keepalived = next(t for t in endpoint if "keepalived configuration" in t["name"])
    assert keepalived["no_log"] is True
    config = keepalived["orchestrator.platform.host_files"]["files"][0]
    assert config["dest"] == "/etc/keepalived/keepalived.conf" and config["mode"] == "0600"


def _tasks(tasks):
    for task in tasks or []:
        yield task
        for key in ("block", "rescue", "always"):
            yield from _tasks(task.get(key))


def test_host_files_tasks_are_plain_lists_of_entries():
    """Every role writes its files with host_files as a YAML list of {src or content, dest, mode...}
    entries, conditions in `when`: no Jinja-built list, no template lookup (the action plugin renders
    `src` on the controller)."""
    seen = 0
    for path in sorted(ROLES.glob("*/tasks/*.yml")):
        for task in _tasks(yaml.safe_load(path.read_text())):
            args = task.get("orchestrator.platform.host_files")
            if args is None:
                continue
            seen += 1
            where = (str(path.relative_to(ROOT)), task["name"])
            assert isinstance(args["files"], list), where
            for entry in args["files"]:
                assert isinstance(entry, dict) and "dest" in entry, where
                assert "lookup(" not in json.dumps(entry), where
                assert not ("src" in entry and "content" in entry), where
                if "when" in entry:
                    assert re.fullmatch(r"\{\{ [^{}]+ \}\}", entry["when"]), where
    assert seen >= 12
