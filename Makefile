# The two commands of the README:
#   make demo   start Neo4j, load UMLS, train or reuse a model, serve, verify sample claims
#   make test   run the whole test suite against a real Neo4j and the real server
# Both create or refresh the virtual environment, the Neo4j launcher and the gRPC tools first.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
STATE := .kgreason
GOBIN_DIR := $(abspath $(STATE)/bin)

# Versions of the stock gRPC tools the end-to-end tests and benchmarks use.
GRPCURL_VERSION := v1.9.3
GRPC_HEALTH_PROBE_VERSION := v0.4.63
GHZ_VERSION := v0.121.0

# Quiet DGL's "backend not selected" notice; PyTorch is the only backend kgreason uses.
export DGLBACKEND := pytorch
# The embedded Neo4j's password for development; set NEO4J_PASSWORD to use another.
export NEO4J_PASSWORD ?= kgreason-dev-password

.PHONY: demo test venv neo4j tools proto proto-check clean

demo: venv neo4j
	$(VENV_PYTHON) -m server.demo

test: venv neo4j tools
	PATH="$(GOBIN_DIR):$$PATH" $(VENV_PYTHON) -m pytest -ra $(PYTEST_ARGS)

venv: $(VENV)/.installed

# Rebuilt when pyproject.toml changes; otherwise reused as it is.
$(VENV)/.installed: pyproject.toml
	@test -x "$(VENV_PYTHON)" || $(PYTHON) -m venv $(VENV)
	$(VENV_PYTHON) -m pip install --quiet --upgrade "pip>=24"
	$(VENV_PYTHON) -m pip install --quiet -e ".[dev]"
	$(VENV_PYTHON) -m pip check
	@touch $@

neo4j:
	python3 deploy/neo4j-embedded/neo4jctl.py build

tools: $(GOBIN_DIR)/grpcurl $(GOBIN_DIR)/grpc_health_probe $(GOBIN_DIR)/ghz

$(GOBIN_DIR)/grpcurl:
	GOBIN=$(GOBIN_DIR) go install github.com/fullstorydev/grpcurl/cmd/grpcurl@$(GRPCURL_VERSION)

$(GOBIN_DIR)/grpc_health_probe:
	GOBIN=$(GOBIN_DIR) go install github.com/grpc-ecosystem/grpc-health-probe@$(GRPC_HEALTH_PROBE_VERSION)
	mv $(GOBIN_DIR)/grpc-health-probe $@

$(GOBIN_DIR)/ghz:
	GOBIN=$(GOBIN_DIR) go install github.com/bojand/ghz/cmd/ghz@$(GHZ_VERSION)

# Regenerates the Python gRPC code beside the .proto files; tests/unit/test_generated_code.py
# fails when the committed code differs from what this produces.
proto: venv
	$(VENV_PYTHON) protos/generate.py

clean:
	rm -rf $(VENV) $(STATE)
