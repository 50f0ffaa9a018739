# Entry points. `make test` is the test command: it sets everything up on a fresh Debian 12
# machine (root) and runs every gate.
.PHONY: test setup gates image release lab lab-destroy

test: setup gates

setup:
	bash scripts/setup.sh

gates:
	bash tests/run.sh

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
