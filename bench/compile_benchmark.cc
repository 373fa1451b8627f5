// SPDX-License-Identifier: GPL-2.0-or-later
//
// Policy build, compile, render and explain for the istio-init default and
// for a heavier policy (TPROXY, IPv6, DNS, exclusions). Pure CPU; needs no
// root.

#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
#include "meshcap/explain.h"
#include "meshcap/policy.h"
#include "meshcap/render.h"
#include "src/compile/compile.h"

namespace {

using ::meshcap::bench::IstioInit;

meshcap::PolicyBuilder Heavy() {
  meshcap::PolicyBuilder b = IstioInit();
  b.SetInterceptMode("TPROXY")
      .SetIpv6(true)
      .SetRedirectDns(true)
      .SetDnsServersV4("198.51.100.53")
      .SetDnsServersV6("2001:db8::53")
      .SetOutboundCidrsExclude("203.0.113.0/24,2001:db8:1::/48")
      .SetOutboundPortsExclude("22,443")
      .SetExcludeInterfaces("eth9")
      .SetKubeVirtInterfaces("veth1,veth2");
  return b;
}

template <meshcap::PolicyBuilder (*Make)()>
void BM_PolicyBuild(benchmark::State& state) {
  meshcap::PolicyBuilder b = Make();
  for (auto _ : state) benchmark::DoNotOptimize(b.Build());
}
BENCHMARK(BM_PolicyBuild<IstioInit>)->Name("BM_PolicyBuild/istio_init");
BENCHMARK(BM_PolicyBuild<Heavy>)->Name("BM_PolicyBuild/tproxy_v6_dns");

template <meshcap::PolicyBuilder (*Make)()>
void BM_Compile(benchmark::State& state) {
  meshcap::CapturePolicy p = *Make().Build();
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        meshcap::internal::Compile(p, meshcap::ir::Dialect::kNftables));
  }
}
BENCHMARK(BM_Compile<IstioInit>)->Name("BM_Compile/istio_init");
BENCHMARK(BM_Compile<Heavy>)->Name("BM_Compile/tproxy_v6_dns");

template <meshcap::PolicyBuilder (*Make)()>
void BM_RenderIptables(benchmark::State& state) {
  meshcap::CapturePolicy p = *Make().Build();
  for (auto _ : state) {
    benchmark::DoNotOptimize(meshcap::Render(p, "iptables-legacy"));
  }
}
BENCHMARK(BM_RenderIptables<IstioInit>)->Name("BM_RenderIptables/istio_init");
BENCHMARK(BM_RenderIptables<Heavy>)->Name("BM_RenderIptables/tproxy_v6_dns");

template <meshcap::PolicyBuilder (*Make)()>
void BM_RenderNftables(benchmark::State& state) {
  meshcap::CapturePolicy p = *Make().Build();
  for (auto _ : state) benchmark::DoNotOptimize(meshcap::Render(p, "nftables"));
}
BENCHMARK(BM_RenderNftables<IstioInit>)->Name("BM_RenderNftables/istio_init");
BENCHMARK(BM_RenderNftables<Heavy>)->Name("BM_RenderNftables/tproxy_v6_dns");

// Explain of one packet, compile included (what meshcap::Explain does per
// call): an app's outbound connection, captured after the whole output
// chain; an arriving one.
template <meshcap::PolicyBuilder (*Make)()>
void BM_Explain(benchmark::State& state, const char* backend, bool inbound) {
  meshcap::CapturePolicy p = *Make().Build();
  meshcap::Packet::Flags f;
  if (inbound) {
    f.src = "203.0.113.9:40000";
    f.dst = "198.51.100.2:8080";
    f.iif = "eth0";
  } else {
    f.dst = "198.51.100.10:80";
    f.uid = "1000";
  }
  const meshcap::Packet packet = *meshcap::Packet::FromFlags(f);
  for (auto _ : state) {
    benchmark::DoNotOptimize(meshcap::Explain(p, packet, backend));
  }
}
void BM_ExplainIstioInit(benchmark::State& state, const char* backend,
                         bool inbound) {
  BM_Explain<IstioInit>(state, backend, inbound);
}
void BM_ExplainHeavy(benchmark::State& state, const char* backend,
                     bool inbound) {
  BM_Explain<Heavy>(state, backend, inbound);
}
BENCHMARK_CAPTURE(BM_ExplainIstioInit, nftables_out, "nftables", false);
BENCHMARK_CAPTURE(BM_ExplainIstioInit, nftables_in, "nftables", true);
BENCHMARK_CAPTURE(BM_ExplainIstioInit, iptables_out, "iptables-legacy", false);
BENCHMARK_CAPTURE(BM_ExplainHeavy, nftables_out, "nftables", false);
BENCHMARK_CAPTURE(BM_ExplainHeavy, nftables_in, "nftables", true);
BENCHMARK_CAPTURE(BM_ExplainHeavy, iptables_out, "iptables-legacy", false);

}  // namespace

BENCHMARK_MAIN();
