// SPDX-License-Identifier: GPL-2.0-or-later

package meshcap_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	meshcap "example.invalid/meshcap/bindings/go"
)

const istioInit = `{"OutboundIPRangesInclude": "*", "InboundPortsInclude": "*",
	"InboundPortsExclude": "15090,15021,15020"}`

func mustPolicy(t *testing.T, text string) *meshcap.Policy {
	t.Helper()
	p, err := meshcap.PolicyFromJSON(text)
	if err != nil {
		t.Fatalf("PolicyFromJSON: %v", err)
	}
	return p
}

// wantError checks that err is a meshcap error of code whose message holds
// every part.
func wantError(t *testing.T, err error, code meshcap.Code, parts ...string) {
	t.Helper()
	var e *meshcap.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *meshcap.Error", err, err)
	}
	if !errors.Is(err, code) || e.Code != code {
		t.Errorf("error %q has code %v, want %v", err, e.Code, code)
	}
	for _, p := range parts {
		if !strings.Contains(e.Message, p) {
			t.Errorf("error %q does not name %q", e.Message, p)
		}
	}
}

func TestVersion(t *testing.T) {
	if v := meshcap.Version(); strings.Count(v, ".") != 2 {
		t.Errorf("Version() = %q, want MAJOR.MINOR.PATCH", v)
	}
}

func TestCodesMirrorTheCABI(t *testing.T) {
	for code, name := range map[meshcap.Code]string{
		meshcap.OK:               "OK",
		meshcap.InvalidArgument:  "INVALID_ARGUMENT",
		meshcap.NotFound:         "NOT_FOUND",
		meshcap.PermissionDenied: "PERMISSION_DENIED",
		meshcap.Aborted:          "ABORTED",
		meshcap.Unavailable:      "UNAVAILABLE",
		meshcap.Unauthenticated:  "UNAUTHENTICATED",
	} {
		if code.String() != name {
			t.Errorf("Code(%d).String() = %q, want %q", int(code), code, name)
		}
	}
	if meshcap.Aborted != 10 || meshcap.PermissionDenied != 7 ||
		meshcap.NotFound != 5 || meshcap.InvalidArgument != 3 {
		t.Error("codes differ from absl::StatusCode")
	}
	if got := meshcap.Code(99).String(); got != "CODE(99)" {
		t.Errorf("Code(99).String() = %q", got)
	}
}

func TestErrorsIsMatchesCodesAndFsErrors(t *testing.T) {
	notFound := fmt.Errorf("wrapped: %w",
		&meshcap.Error{Code: meshcap.NotFound, Message: "x"})
	if !errors.Is(notFound, meshcap.NotFound) || !errors.Is(notFound, fs.ErrNotExist) {
		t.Error("NotFound matches neither meshcap.NotFound nor fs.ErrNotExist")
	}
	if errors.Is(notFound, meshcap.PermissionDenied) || errors.Is(notFound, fs.ErrPermission) {
		t.Error("NotFound matches PermissionDenied")
	}
	denied := &meshcap.Error{Code: meshcap.PermissionDenied, Message: "x"}
	if !errors.Is(denied, meshcap.PermissionDenied) || !errors.Is(denied, fs.ErrPermission) {
		t.Error("PermissionDenied does not match fs.ErrPermission")
	}
	if meshcap.CodeOf(notFound) != meshcap.NotFound || meshcap.CodeOf(nil) != meshcap.OK ||
		meshcap.CodeOf(errors.New("x")) != meshcap.Unknown {
		t.Error("CodeOf")
	}
	if denied.Error() != "meshcap: x" {
		t.Errorf("Error() = %q", denied.Error())
	}
}

func TestPolicyFromJSONRoundTrips(t *testing.T) {
	p := mustPolicy(t, istioInit)
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var knobs map[string]any
	if err := json.Unmarshal(b, &knobs); err != nil {
		t.Fatal(err)
	}
	if knobs["InboundPortsExclude"] != "15090,15021,15020" {
		t.Errorf("InboundPortsExclude = %v", knobs["InboundPortsExclude"])
	}
	if again := mustPolicy(t, string(b)); again.String() != p.String() {
		t.Errorf("round trip: %s != %s", again, p)
	}
}

func TestPolicyErrorsNameTheValue(t *testing.T) {
	_, err := meshcap.PolicyFromJSON(`{"InboundPortsExclude": "15090,0"}`)
	wantError(t, err, meshcap.InvalidArgument, "InboundPortsExclude", "'0'")
	_, err = meshcap.PolicyFromJSON(`{"Bogus": 1}`)
	wantError(t, err, meshcap.InvalidArgument, "'Bogus'")
	_, err = meshcap.PolicyFromJSON(`{"ProxyPort": `)
	wantError(t, err, meshcap.InvalidArgument, "not valid JSON")
	_, err = meshcap.PolicyFromJSON(`{"OwnerGroupsInclude": "no-such-group-meshcap"}`)
	wantError(t, err, meshcap.NotFound, "no-such-group-meshcap")
}

func TestBuilder(t *testing.T) {
	var b meshcap.PolicyBuilder
	b.Set("OutboundIPRangesInclude", "*").Set("istio-inbound-ports", "*").
		MergeJSON(`{"InboundPortsExclude": [15090, 15021, 15020]}`, "pod.json")
	p, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	if p.String() != mustPolicy(t, istioInit).String() {
		t.Errorf("built %s", p)
	}
	b.SetFrom("ProxyPort", "70000", "--envoy-port")
	_, err = b.Build()
	wantError(t, err, meshcap.InvalidArgument, "--envoy-port", "70000")
	b.Unset("ProxyPort")
	if _, err := b.Build(); err != nil {
		t.Errorf("after Unset: %v", err)
	}
	b.MergeJSON(`{"Nope": 1}`, "pod.json")
	_, err = b.Build()
	wantError(t, err, meshcap.InvalidArgument, "pod.json", "'Nope'")
}

func TestRender(t *testing.T) {
	p := mustPolicy(t, istioInit)
	text, err := meshcap.Render(p, "nftables")
	if err != nil || !strings.Contains(text, "add table inet istio-proxy-nat") {
		t.Errorf("Render(nftables) = %q, %v", text, err)
	}
	text, err = meshcap.Render(p, "iptables-legacy")
	if err != nil || !strings.Contains(text, "-A ISTIO_OUTPUT -j ISTIO_REDIRECT") {
		t.Errorf("Render(iptables-legacy) = %q, %v", text, err)
	}
	_, err = meshcap.Render(p, "pf")
	wantError(t, err, meshcap.InvalidArgument, "pf")
}

func TestExplain(t *testing.T) {
	p := mustPolicy(t, istioInit)
	app := uint32(1000)
	e, err := meshcap.Explain(p, meshcap.Packet{Dst: "10.96.0.10:80", UID: &app}, "")
	if err != nil || !e.Captured || e.Port == nil || *e.Port != 15001 || e.Mode != "REDIRECT" {
		t.Fatalf("Explain(app) = %+v, %v", e, err)
	}
	decisive := 0
	for _, s := range e.Path {
		if s.Decisive {
			decisive++
		}
	}
	if decisive != 1 {
		t.Errorf("%d decisive steps in %+v", decisive, e.Path)
	}
	proxy := uint32(1337)
	e, err = meshcap.Explain(p, meshcap.Packet{Dst: "10.96.0.10:80", UID: &proxy}, "iptables-legacy")
	if err != nil || e.Captured || !strings.Contains(e.Summary, "--uid-owner 1337 -j RETURN") {
		t.Errorf("Explain(proxy) = %+v, %v", e, err)
	}
	_, err = meshcap.Explain(p, meshcap.Packet{Dst: "10.0.0.1:70000"}, "")
	wantError(t, err, meshcap.InvalidArgument, "70000")
	_, err = meshcap.Explain(p, meshcap.Packet{Src: "10.0.0.2", Dst: "10.0.0.1:80", Iif: "eth0", UID: &app}, "")
	wantError(t, err, meshcap.InvalidArgument, "--uid")
}

func TestNewEngineErrorsWithoutAKernel(t *testing.T) {
	_, err := meshcap.NewEngine(meshcap.EngineOptions{NetnsPath: "/nonexistent/meshcap/ns"})
	wantError(t, err, meshcap.NotFound, "/nonexistent/meshcap/ns")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v is not fs.ErrNotExist", err)
	}
	file := filepath.Join(t.TempDir(), "not-a-namespace")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = meshcap.NewEngine(meshcap.EngineOptions{NetnsPath: file})
	wantError(t, err, meshcap.InvalidArgument, "not-a-namespace")
	_, err = meshcap.NewEngine(meshcap.EngineOptions{Backend: "pf"})
	wantError(t, err, meshcap.InvalidArgument, "pf")
	err = meshcap.Validate(meshcap.ValidateOptions{NetnsPath: "/nonexistent/meshcap/ns"})
	wantError(t, err, meshcap.NotFound, "/nonexistent/meshcap/ns")
}
