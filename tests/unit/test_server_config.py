"""Server configuration: precedence of flags, environment, file and defaults, and validation."""
import pytest

from server.config import ConfigError, ServerConfig, load_config


def test_defaults_without_sources():
    config = load_config([], environ={})
    assert config == ServerConfig()


def test_flags_override_env_override_file(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text('max_batch = 8\nmax_wait_ms = 9\nqueue_capacity = 100\ndevices = ["cuda:0", "cuda:1"]\n')
    environ = {"KGREASON_CONFIG": str(path), "KGREASON_MAX_BATCH": "16", "KGREASON_MAX_WAIT_MS": "3"}

    config = load_config(["--max-batch", "64"], environ=environ)

    assert config.max_batch == 64  # flag
    assert config.max_wait_ms == 3  # environment
    assert config.queue_capacity == 100  # file
    assert config.devices == ["cuda:0", "cuda:1"]  # file
    assert config.hops == ServerConfig().hops  # default


def test_yaml_file_and_device_list_flag(tmp_path):
    path = tmp_path / "server.yaml"
    path.write_text("fanout: 7\nneo4j_uri: bolt://127.0.0.1:7999\n")
    config = load_config(["--config", str(path), "--devices", "cpu,cuda:0"], environ={})
    assert config.fanout == 7
    assert config.neo4j_uri == "bolt://127.0.0.1:7999"
    assert config.devices == ["cpu", "cuda:0"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--max-batch", "0"], "max_batch must be at least 1"),
        (["--max-batch", "many"], "invalid value 'many' for max_batch"),
        (["--devices", "gpu0"], "invalid device 'gpu0'"),
        (["--tls-cert", "server.pem"], "tls_cert and tls_key must be set together"),
        (["--log-level", "loud"], "invalid log_level"),
        (["--graph-admin", "maybe"], "invalid value 'maybe' for graph_admin"),
    ],
)
def test_invalid_values_name_the_setting(argv, message):
    with pytest.raises(ConfigError, match=message):
        load_config(argv, environ={})


def test_unknown_file_setting_is_rejected(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text("max_batchh = 8\n")
    with pytest.raises(ConfigError, match="unknown settings max_batchh"):
        load_config(["--config", str(path)], environ={})


def test_every_flag_has_help_text():
    from server.config import FIELDS, build_parser

    help_text = build_parser().format_help()

    for name in FIELDS:
        variable = "KGREASON_" + name.upper()
        assert variable in help_text, f"--{name.replace('_', '-')} help does not name {variable}"


def test_boolean_setting_from_env_and_flag():
    assert load_config([], environ={"KGREASON_GRAPH_ADMIN": "yes"}).graph_admin
    assert not load_config(["--graph-admin", "off"], environ={"KGREASON_GRAPH_ADMIN": "true"}).graph_admin
