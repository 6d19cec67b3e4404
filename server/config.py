"""Server configuration from command-line flags, KGREASON_* environment variables and a file.

Precedence, highest first: flags, environment, the YAML or TOML file given by ``--config`` (or
``KGREASON_CONFIG``), the defaults below. Every field is settable in all three places: flag
``--max-batch``, variable ``KGREASON_MAX_BATCH``, file key ``max_batch``. List fields (``devices``)
take a comma-separated string in flags and variables and a list or a string in files.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

ENV_PREFIX = "KGREASON_"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
BOOLEAN_TEXTS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False, "on": True, "off": False}


class ConfigError(ValueError):
    """An invalid configuration value; the message names the setting and where it came from."""


@dataclass
class ServerConfig:
    # gRPC listen address, host:port; port 0 picks a free port (the chosen one is logged).
    listen: str = "127.0.0.1:50051"
    # Model folder (config.json + model.safetensors).
    model_dir: str = ""
    # One inference worker per device: "cpu", "cuda:0", "cuda:1", ...
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    # Inference worker per device: "process" (a child process with its own model copy) or
    # "thread" (a thread of the server). docs/architecture.md has the measurement behind the default.
    worker_kind: str = "process"
    # Dynamic batching: a batch closes at max_batch claims or max_wait_ms after its first claim.
    max_batch: int = 32
    max_wait_ms: int = 5
    # Claims admitted but not yet batched; a full queue rejects with RESOURCE_EXHAUSTED.
    queue_capacity: int = 1024
    # Claims one VerifyStream keeps in flight before it stops reading from the client.
    stream_window: int = 256
    # Retrieval radius in hops and the maximum neighbours kept per node per hop; 0 uses the
    # values the model was trained with, which is what its accuracy figures assume.
    hops: int = 0
    fanout: int = 0
    # Subgraphs kept in the retrieval cache (entries, per graph version).
    cache_size: int = 4096
    neo4j_uri: str = "bolt://127.0.0.1:7687"
    neo4j_user: str = "neo4j"
    neo4j_password: str = ""
    # Prometheus metrics HTTP port on the listen host; 0 turns the endpoint off.
    metrics_port: int = 9464
    # TLS: server certificate and key (PEM files); client_ca turns on mutual TLS.
    tls_cert: str = ""
    tls_key: str = ""
    tls_client_ca: str = ""
    # When set, Reasoner and GraphAdmin calls need the metadata "authorization: Bearer <token>".
    bearer_token: str = ""
    # Serve the GraphAdmin service, which writes to Neo4j; off unless asked for.
    graph_admin: bool = False
    log_level: str = "INFO"
    # Seconds that SIGTERM waits for admitted claims before the server stops anyway.
    shutdown_grace_s: float = 30.0

    def validate(self) -> None:
        """Raise ConfigError for a value the server cannot run with."""
        for name in ("max_batch", "queue_capacity", "stream_window", "cache_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("max_wait_ms", "hops", "fanout", "metrics_port"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not self.devices:
            raise ConfigError("devices is empty; give at least one, for example 'cpu' or 'cuda:0'")
        for device in self.devices:
            if device != "cpu" and not (device.startswith("cuda:") and device[5:].isdigit()):
                raise ConfigError(f"invalid device {device!r}; use 'cpu' or 'cuda:N'")
        if self.worker_kind not in ("process", "thread"):
            raise ConfigError(f"invalid worker_kind {self.worker_kind!r}; use 'process' or 'thread'")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ConfigError("tls_cert and tls_key must be set together")
        if self.tls_client_ca and not self.tls_cert:
            raise ConfigError("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"invalid log_level {self.log_level!r}; use one of {', '.join(LOG_LEVELS)}")
        if ":" not in self.listen:
            raise ConfigError(f"invalid listen address {self.listen!r}; use host:port")


FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig)}


def _convert(name: str, value: Any, source: str) -> Any:
    """Convert a raw value from a flag, variable or file to the type of field `name`."""
    default = ServerConfig()
    expected = type(getattr(default, name))
    try:
        if expected is list:
            if isinstance(value, str):
                return [item.strip() for item in value.split(",") if item.strip()]
            return [str(item) for item in value]
        if expected is bool:
            text = str(value).strip().lower()
            if text not in BOOLEAN_TEXTS:
                raise ValueError(f"expected one of {', '.join(BOOLEAN_TEXTS)}")
            return BOOLEAN_TEXTS[text]
        return expected(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid value {value!r} for {name} ({source}): {error}") from None


def _read_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: invalid TOML: {error}") from None
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: invalid YAML: {error}") from None
    else:
        raise ConfigError(f"{path}: unknown config format; use .toml, .yaml or .yml")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown settings {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    return data


# Help text of each flag: what it sets, with its unit.
FIELD_HELP = {
    "listen": "gRPC listen address as host:port; port 0 picks a free port and logs it",
    "model_dir": "model folder written by kgreason-train (config.json + model.safetensors)",
    "devices": "comma-separated devices, one inference worker each: cpu, cuda:0, cuda:1, ...",
    "worker_kind": "inference worker per device: process (own model copy) or thread",
    "max_batch": "claims per batch at most; 1 turns dynamic batching off",
    "max_wait_ms": "milliseconds a batch waits for more claims after its first one",
    "queue_capacity": "admitted claims waiting for a batch; beyond it calls get RESOURCE_EXHAUSTED",
    "stream_window": "claims one VerifyStream keeps in flight before it stops reading",
    "hops": "retrieval radius in hops; 0 uses the model's training value",
    "fanout": "neighbours kept per node per hop; 0 uses the model's training value",
    "cache_size": "subgraphs kept in the retrieval cache (entries, per graph version)",
    "neo4j_uri": "Neo4j Bolt URI (bolt:// or neo4j://)",
    "neo4j_user": "Neo4j user",
    "neo4j_password": "Neo4j password (prefer KGREASON_NEO4J_PASSWORD, which no process listing shows)",
    "metrics_port": "Prometheus /metrics HTTP port; 0 turns it off",
    "tls_cert": "PEM file of the server certificate; turns on TLS",
    "tls_key": "PEM file of the server key",
    "tls_client_ca": "PEM file of the CA that signs client certificates; turns on mutual TLS",
    "bearer_token": "require the metadata 'authorization: Bearer <token>' on Reasoner and GraphAdmin calls",
    "graph_admin": "true to serve GraphAdmin (LoadTriples writes to Neo4j; protect it with a bearer token or mTLS)",
    "log_level": "DEBUG, INFO, WARNING or ERROR",
    "shutdown_grace_s": "seconds SIGTERM waits for admitted claims before the server stops anyway",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kgreason-server",
        description="Serve the kgreason Reasoner over gRPC. Flags override KGREASON_* variables, "
        "which override the config file, which overrides the defaults.",
    )
    parser.add_argument("--config", help="YAML or TOML config file (or KGREASON_CONFIG)")
    for name, spec in FIELDS.items():
        flag = "--" + name.replace("_", "-")
        variable = ENV_PREFIX + name.upper()
        described = FIELD_HELP.get(name, name.replace("_", " "))
        parser.add_argument(
            flag, dest=name, default=None, help=f"{described} (env {variable}; default: {_default_text(spec)})"
        )
    return parser


def _default_text(spec: dataclasses.Field) -> str:
    if spec.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return ",".join(spec.default_factory())  # type: ignore[misc]
    return repr(spec.default)


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """Build a validated ServerConfig from flags, environment and an optional config file.

    Raises:
        ConfigError: a value has the wrong type or is out of range, or the file is invalid.
    """
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    values: dict[str, Any] = {}

    config_path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    if config_path:
        for name, value in _read_file(Path(config_path)).items():
            values[name] = _convert(name, value, f"file {config_path}")
    for name in FIELDS:
        variable = ENV_PREFIX + name.upper()
        if variable in environ:
            values[name] = _convert(name, environ[variable], f"variable {variable}")
    for name in FIELDS:
        flag_value = getattr(args, name)
        if flag_value is not None:
            values[name] = _convert(name, flag_value, "flag --" + name.replace("_", "-"))

    config = ServerConfig(**values)
    config.validate()
    return config
