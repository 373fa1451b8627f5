# SPDX-License-Identifier: GPL-2.0-or-later
"""The package without a kernel: policies, dry runs, errors."""

from __future__ import annotations

import json

import pytest

import meshcap
from meshcap import _native

ISTIO_INIT = ('{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*", '
              '"InboundPortsExclude": "15090,15021,15020"}')


def test_version_is_the_library_version():
    assert meshcap.version() == meshcap.__version__
    assert meshcap.version().count(".") == 2


def test_codes_mirror_the_c_abi():
    for code in meshcap.Code:
        assert _native.lib.meshcap_code_name(code).decode() == code.name
    assert meshcap.Code.INVALID_ARGUMENT == 3
    assert meshcap.Code.PERMISSION_DENIED == 7
    assert meshcap.Code.ABORTED == 10


def test_policy_from_json_round_trips():
    p = meshcap.Policy.from_json(ISTIO_INIT)
    d = p.to_dict()
    assert d["InboundPortsExclude"] == "15090,15021,15020"
    assert d["OutboundIPRangesInclude"] == "*"
    assert meshcap.Policy.from_json(p.to_json()) == p
    assert hash(meshcap.Policy.from_json(p.to_json())) == hash(p)
    assert "InboundPortsExclude" in repr(p)


def test_policy_keywords_convert_python_values():
    p = meshcap.Policy(OutboundIPRangesInclude="*", InboundPortsInclude="*",
                       InboundPortsExclude=[15090, 15021, 15020])
    assert p == meshcap.Policy.from_json(ISTIO_INIT)
    q = meshcap.Policy({"EnableIPv6": True, "ProxyPort": 16001})
    assert q.to_dict()["EnableIPv6"] is True
    assert q.to_dict()["ProxyPort"] == "16001"
    assert meshcap.Policy() != p


def test_policy_knob_types_are_checked():
    with pytest.raises(TypeError, match="ProxyPort"):
        meshcap.Policy(ProxyPort=15001.5)
    with pytest.raises(TypeError, match="InboundPortsExclude"):
        meshcap.Policy(InboundPortsExclude=[True])
    with pytest.raises(TypeError, match="bytes"):
        meshcap.Policy(ProxyPort=b"15001")


def test_builder_sets_unsets_and_merges_json():
    b = meshcap.PolicyBuilder()
    b.set("OutboundIPRangesInclude", "*").set("istio-inbound-ports", "*")
    b.update_json('{"InboundPortsExclude": [15090, 15021, 15020]}',
                  source="pod.json")
    assert b.build() == meshcap.Policy.from_json(ISTIO_INIT)
    b.set("ProxyPort", 70000, origin="--envoy-port")
    with pytest.raises(meshcap.InvalidArgumentError) as e:
        b.build()
    assert "--envoy-port" in str(e.value) and "70000" in str(e.value)
    b.unset("ProxyPort")
    assert b.build() == meshcap.Policy.from_json(ISTIO_INIT)
    b.set("ProxyPort", None)  # None unsets too
    assert b.build().to_dict()["ProxyPort"] == "15001"


def test_invalid_values_raise_value_errors_naming_them():
    with pytest.raises(meshcap.InvalidArgumentError) as e:
        meshcap.Policy.from_json('{"InboundPortsExclude": "15090,0"}')
    err = e.value
    assert isinstance(err, ValueError) and isinstance(err, meshcap.Error)
    assert err.code is meshcap.Code.INVALID_ARGUMENT
    assert "InboundPortsExclude" in err.message and "'0'" in err.message
    assert str(err) == err.message
    assert "INVALID_ARGUMENT" in repr(err)


def test_unknown_keys_and_bad_json_are_named():
    with pytest.raises(meshcap.InvalidArgumentError, match="'Bogus'"):
        meshcap.Policy.from_json('{"Bogus": 1}')
    with pytest.raises(meshcap.InvalidArgumentError, match="pod.json"):
        meshcap.Policy.from_json('{"Bogus": 1}', source="pod.json")
    with pytest.raises(meshcap.InvalidArgumentError, match="not valid JSON"):
        meshcap.Policy.from_json('{"ProxyPort": ')
    with pytest.raises(meshcap.InvalidArgumentError, match="ProxyPortt"):
        meshcap.Policy(ProxyPortt=1)


def test_unknown_group_is_a_lookup_error():
    with pytest.raises(LookupError) as e:
        meshcap.Policy(OwnerGroupsInclude="no-such-group-meshcap")
    assert isinstance(e.value, meshcap.NotFoundError)
    assert e.value.code == meshcap.Code.NOT_FOUND
    assert "no-such-group-meshcap" in str(e.value)


def test_render_by_backend_name():
    p = meshcap.Policy.from_json(ISTIO_INIT)
    assert "add table inet istio-proxy-nat" in meshcap.render(p, "nftables")
    assert "-A ISTIO_OUTPUT -j ISTIO_REDIRECT" in meshcap.render(
        p, "iptables-legacy")
    with pytest.raises(meshcap.InvalidArgumentError, match="pf"):
        meshcap.render(p, "pf")


def test_explain_names_the_deciding_rule():
    p = meshcap.Policy.from_json(ISTIO_INIT)
    e = meshcap.explain(p, dst="10.96.0.10:80", uid=1000)
    assert e.captured and e.port == 15001 and e.mode == "REDIRECT"
    assert any(s.decisive and "redirect to :15001" in s.text for s in e.path)
    e = meshcap.explain(p, dst="10.96.0.10:80", uid=1337,
                        backend="iptables-legacy")
    assert not e.captured and e.mode == "ACCEPT"
    assert "--uid-owner 1337 -j RETURN" in e.summary
    e = meshcap.explain(p, src="203.0.113.9", dst="198.51.100.2:8080",
                        iif="eth0")
    assert e.captured and e.port == 15006
    with pytest.raises(meshcap.InvalidArgumentError, match="70000"):
        meshcap.explain(p, dst="10.0.0.1:70000")
    with pytest.raises(meshcap.InvalidArgumentError, match="--uid"):
        meshcap.explain(p, src="10.0.0.2", dst="10.0.0.1:80", iif="eth0",
                        uid=1)


def test_engine_errors_without_a_kernel(tmp_path):
    with pytest.raises(meshcap.NotFoundError) as e:
        meshcap.Engine(netns_path="/nonexistent/meshcap/ns")
    assert "/nonexistent/meshcap/ns" in str(e.value)
    assert isinstance(e.value, LookupError)
    f = tmp_path / "not-a-namespace"
    f.write_text("")
    with pytest.raises(meshcap.InvalidArgumentError, match="not-a-namespace"):
        meshcap.Engine(netns_path=f)
    with pytest.raises(meshcap.InvalidArgumentError, match="pf"):
        meshcap.Engine(backend="pf")


def test_validate_checks_ports_before_probing():
    with pytest.raises(meshcap.InvalidArgumentError, match="probe_port"):
        meshcap.validate(probe_port=0)
    with pytest.raises(meshcap.NotFoundError):
        meshcap.validate(netns_path="/nonexistent/meshcap/ns")


def test_errors_map_to_classes():
    from meshcap._errors import error_for
    assert isinstance(error_for(10, "m"), meshcap.AbortedError)
    assert isinstance(error_for(7, "m"), PermissionError)
    assert isinstance(error_for(4, "m"), TimeoutError)
    other = error_for(15, "lost")
    assert type(other) is meshcap.Error
    assert other.code is meshcap.Code.DATA_LOSS
    assert error_for(99, "?").code is meshcap.Code.UNKNOWN


def test_results_parse_the_c_json():
    from meshcap._api import _apply_result, _difference
    r = _apply_result(json.dumps({"backend": "nftables", "changed": True,
                                  "changes": ["a", "b"], "later": 1}))
    assert r.changed and r.changes == ("a", "b")
    d = _difference({"kind": "missing", "object": "rule", "position": 3,
                     "text": "missing rule 3", "future_field": True})
    assert str(d) == "missing rule 3" and d.position == 3
