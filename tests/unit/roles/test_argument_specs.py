# Copyright: orchestrator.platform contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every role's meta/argument_specs.yml: options that hold a secret are no_log, and every variable of a
role's defaults has an entry (preflight's catalogue of known variables is the union of the specs'
options: a default without an entry is refused by preflight as an unknown variable).

Secret options are found by their names (with the role's prefix removed, so external_secrets_* are not
all secrets); the names that match and hold no secret are listed below with the reason.
"""

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.parts[-3] for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))

SECRET_NAME = re.compile(r"password|passwd|passphrase|token|secret|credential|private|hmac|bcrypt|webhook_url|"
                         r"(^|_)key(s)?$|api_?key")

# Names that match SECRET_NAME and hold no secret, with the reason. Types int, float and bool cannot
# hold a secret and `path` options name a file (its mode protects it, not no_log): both are skipped.
NOT_SECRET = {
    "argocd_admin_password_mtime": "the time the admin password was set (Argo CD's passwordMtime), not the password",
    "cert_manager_ca_secret": "the name of the Secret holding the root CA, not its content",
    "control_plane_join_token_ttl": "a lifetime (Go duration) of the join token, not the token",
    "worker_join_token_ttl": "a lifetime (Go duration) of the join token, not the token",
    "kubeadm_config_bootstrap_token_ttl": "a lifetime (Go duration) of the bootstrap token, not the token",
    "rbac_token_duration": "a lifetime of the ServiceAccount tokens, not a token",
    "etcd_restore_cluster_token": "etcd's --initial-cluster-token: a name that keeps clusters apart, which etcd "
                                  "itself prints in its logs and flags; no credential",
    "external_secrets_vault_ca_secret": "the {name, key} reference of the Secret holding Vault's CA certificate",
    "external_secrets_example_vault_key": "the path of a key in Vault that the example reads, not a value",
    "image_security_cosign_public_keys": "public keys: published, and checked against the images' signatures",
}

# The options review finding 12 named (and the webhook URL of the same receiver: Slack-style
# webhook URLs are the credential).
KNOWN_SECRETS = {
    "api_endpoint": ["api_endpoint_vrrp_password"],
    "etcd_backup": ["etcd_backup_s3_access_key", "etcd_backup_s3_secret_key"],
    "monitoring": ["monitoring_alert_credentials", "monitoring_grafana_admin_password"],
    "maintenance_schedule": ["maintenance_schedule_on_failure_webhook_token",
                             "maintenance_schedule_on_failure_webhook_url"],
    "falco": ["falco_siem_credentials"],
    "tracing": ["tracing_elasticsearch_credentials"],
    "container_runtime": ["container_runtime_registries"],  # entries hold registry usernames and passwords
}


def specs(role):
    return yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]


def options(role):
    """(entry point, dotted name, option, hidden by a parent's no_log) of every option, suboptions too."""
    out = []

    def walk(entry, opts, prefix, hidden):
        for name, option in (opts or {}).items():
            out.append((entry, prefix + name, option, hidden))
            walk(entry, option.get("options"), prefix + name + ".", hidden or option.get("no_log") is True)

    for entry, spec in specs(role).items():
        walk(entry, spec.get("options"), "", False)
    return out


def test_every_role_has_a_spec():
    assert len(ROLES) > 20 and "monitoring" in ROLES


@pytest.mark.parametrize("role", ROLES)
def test_options_that_hold_a_secret_are_no_log(role):
    exposed = []
    for entry, name, option, hidden in options(role):
        short = name.rsplit(".", 1)[-1]
        short = short[len(role) + 1:] if short.startswith(role + "_") else short
        if hidden or option.get("type") in ("int", "float", "bool", "path") or name in NOT_SECRET:
            continue
        if SECRET_NAME.search(short) and option.get("no_log") is not True:
            exposed.append("%s: %s" % (entry, name))
    assert exposed == [], "secret options without no_log: true (or add them to NOT_SECRET with the reason)"


@pytest.mark.parametrize("role", sorted(KNOWN_SECRETS))
def test_the_secret_options_of_review_finding_12_are_no_log(role):
    found = {name: option for _entry, name, option, _hidden in options(role)}
    for name in KNOWN_SECRETS[role]:
        assert name in found, name
        assert found[name].get("no_log") is True, name


def test_the_allow_list_names_options_that_exist():
    every = {name for role in ROLES for _e, name, _o, _h in options(role)}
    assert set(NOT_SECRET) - every == set()


@pytest.mark.parametrize("role", [r for r in ROLES if (ROOT / "roles" / r / "defaults/main.yml").exists()])
def test_every_default_has_an_argument_spec_entry(role):
    """What preflight knows (the options of every entry point) covers the role's defaults."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    known = {name for _entry, name, _option, _hidden in options(role)}
    assert sorted(set(defaults) - known) == []


def test_the_monitoring_scrape_switches_are_specified_as_their_defaults():
    defaults = yaml.safe_load((ROOT / "roles/monitoring/defaults/main.yml").read_text())
    main = specs("monitoring")["main"]["options"]
    for name in ("monitoring_scrape_kube_proxy", "monitoring_scrape_scheduler_controller_manager"):
        assert main[name]["type"] == "bool" and main[name]["default"] is defaults[name] is False
        assert main[name]["description"]
