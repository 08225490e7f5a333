"""The params "cluster" section: validated, one-line errors, the password never shown."""

import json

import pytest

from hedge.config import ConfigError, parse_params

GOOD = {"redis_url": "redis://:s3cret@10.0.0.5:6379/0", "node": "tokyo-1", "region": "tokyo",
        "node_weight": 3, "venue_regions": {"binance": "tokyo", "okx": "hongkong"}, "lease_ttl_s": 20}


def _parse(cluster, **extra):
    return parse_params(json.dumps({"cluster": cluster, **extra}))


def test_no_cluster_section_means_one_node():
    assert parse_params("{}").cluster is None
    assert parse_params('{"cluster": null}').cluster is None


def test_a_full_section_parses_and_shows_its_url_without_the_password():
    cfg = _parse(GOOD).cluster
    assert (cfg.node, cfg.region, cfg.node_weight) == ("tokyo-1", "tokyo", 3)
    assert (cfg.lease_ttl_s, cfg.namespace) == (20, "xvh")
    assert dict(cfg.venue_regions) == {"binance": "tokyo", "okx": "hongkong"}
    assert cfg.redis_url_shown() == "redis://:***@10.0.0.5:6379/0"


@pytest.mark.parametrize(("change", "key", "fix"), [
    ({"redis_url": "http://:pw@host:6379"}, "cluster.redis_url", "must be a Redis URL"),
    ({"node": "tokyo 1"}, "cluster.node", "1-32 letters"),
    ({"node_weight": -1}, "cluster.node_weight", "between 0 (standby) and 1000"),
    ({"venue_regions": {"kraken": "eu"}}, "cluster.venue_regions.kraken", "unknown venue"),
    ({"lease_ttl_s": 1}, "cluster.lease_ttl_s", "between 3 and 600"),
    ({"namespace": ""}, "cluster.namespace", "1-32 letters"),
    ({"lease": 5}, "cluster.lease", "unknown key"),
])
def test_bad_values_name_the_key_and_the_fix(change, key, fix):
    with pytest.raises(ConfigError) as info:
        _parse({**GOOD, **change})
    message = str(info.value)
    assert f"'{key}'" in message and fix in message and "\n" not in message
    assert "s3cret" not in message and "pw@" not in message


def test_lease_must_cover_three_loop_turns_and_adopt_is_single_node():
    with pytest.raises(ConfigError, match="three loop turns"):
        _parse({**GOOD, "lease_ttl_s": 5}, loop_interval_ms=2000)
    with pytest.raises(ConfigError, match="one node only"):
        _parse(GOOD, reconcile_policy="adopt")
    with pytest.raises(ConfigError, match="must be an object"):
        _parse("redis://x")
