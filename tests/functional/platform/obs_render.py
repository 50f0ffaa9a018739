"""Where the step 9, 11 and 12 render tests find their fixtures, and their scenarios."""

from __future__ import annotations

from platform_render import HERE

OBS_FIXTURES = HERE / "fixtures_obs"
OBS_INVENTORY = OBS_FIXTURES / "inventory.yml"
OBS_PLAYBOOKS = ["09_observability.yml", "11_autoscaling.yml", "12_compliance.yml"]
OBS_SWITCHES = ("monitoring", "logging", "tracing", "autoscaling", "compliance")
OBS_SCENARIOS = {
    # -v prints every task result: a task that sees a credential without no_log shows it in the log.
    "full": ["-v", "-e", f"@{OBS_FIXTURES / 'render-vars.yml'}"],
    # The roles' defaults, pulled through the offline mirror (charts) and a mirror registry (images).
    "defaults": ["-e", "cluster_image_registry=registry.lan:5000", "-e", "cluster_mirror=https://mirror.lan"],
    "off": [arg for name in OBS_SWITCHES for arg in ("-e", f"{name}_enabled=false")],
}
