# Entry points. `make test` is the test command: it sets everything up on a fresh Debian 12
# machine (root) and runs every gate.
.PHONY: test setup gates image

test: setup gates

setup:
	bash scripts/setup.sh

gates:
	bash tests/run.sh

image:
	bash scripts/node-image.sh
