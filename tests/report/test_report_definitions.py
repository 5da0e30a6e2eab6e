"""The one reader of recorded configurations: parsing, canonical keys, differences, errors."""
from __future__ import annotations

import pytest

from evalkit.errors import EvalkitError
from evalkit.report.definitions import Definition, config_key, config_option, parse_config


def test_parse_and_key():
    assert parse_config('{"b": 1, "a": 2}') == {"b": 1, "a": 2}
    assert parse_config("") == {} and parse_config(None) == {} and parse_config({"a": 1}) == {"a": 1}
    assert config_key('{"b": 1, "a": 2}') == config_key({"a": 2, "b": 1}) == '{"a": 2, "b": 1}'
    assert config_option('{"injection_fraction": 0.4}', "injection_fraction") == 0.4


def test_bad_config_is_an_error_naming_the_item():
    with pytest.raises(EvalkitError, match="metric_config of mf: not a JSON object"):
        parse_config("{broken", what="metric_config of mf")
    with pytest.raises(EvalkitError, match="not a JSON object"):
        parse_config("[1, 2]")


def test_definition():
    d = Definition.of('{"name": "motion-fidelity", "version": "1", "backend": "klt", "grid_size": 55}')
    assert d.describe() == "metric motion-fidelity v1; backend klt (weight-free); options grid_size=55"
    other = Definition.of({"name": "motion-fidelity", "version": "2", "backend": "klt", "grid_size": 30})
    assert d.changes(other) == ["grid_size: 55 vs 30", "version: '1' vs '2'"]
    assert Definition.of({"name": "temporal-flicker", "version": "1"}).describe() == \
        "metric temporal-flicker v1; no feature backend"
