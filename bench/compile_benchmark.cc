// SPDX-License-Identifier: GPL-2.0-or-later
//
// Policy build, compile and render for the istio-init default and for a
// heavier policy (TPROXY, IPv6, DNS, exclusions). Pure CPU; needs no root.

#include <benchmark/benchmark.h>

#include "bench/bench_util.h"
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

}  // namespace

BENCHMARK_MAIN();
