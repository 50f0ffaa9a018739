# Entry points. `make test` is the test command: it sets everything up on a fresh Debian 12
# machine (root) and runs every gate.
.PHONY: test test-long setup gates image release lab lab-destroy

test: setup gates

setup:
	bash scripts/setup.sh

gates:
	bash tests/run.sh

# The cluster scenario with the checks CI cannot afford (by hand, about 40 minutes more): steps
# 5-11 sent to the real cluster and read back (ORCH_RIG_PLATFORM=1) and the encryption-key rotation
# phase by phase (ORCH_RIG_LONG=1).
test-long: setup
	ORCH_RIG_PLATFORM=1 ORCH_RIG_LONG=1 bash -c 'source scripts/env.sh && molecule test -s cluster'

image:
	bash scripts/node-image.sh

# The pinned Kubernetes release from its Go modules, its signed apt repository (cluster_mirror)
# and its images on the rig's registry (cluster_image_registry); scripts/setup.sh runs the same.
release:
	bash scripts/build-release.sh
	bash scripts/build-mirror.sh
	bash scripts/build-images.sh

# The lab: five node containers and playbooks/site.yml on inventories/lab (scripts/lab.sh).
lab:
	bash scripts/lab.sh up

lab-destroy:
	bash scripts/lab.sh down
