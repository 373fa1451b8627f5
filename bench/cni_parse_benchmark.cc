// SPDX-License-Identifier: GPL-2.0-or-later
//
// How long meshcap-cni takes to read its configuration, from 1 KB to the
// 64 MiB it accepts on stdin (issue 18: the callback parser took 3.2 s for
// 80,000 objects and over 14 minutes for a 60 MB previous result). The
// configuration is a runtime's ADD: the plugin's entry, the pod's
// annotations, and a previous result whose interfaces list makes up the
// size. Also a policy of 80,000 objects in one array (args), and an object
// of that many keys. No root needed.

#include <string>

#include "benchmark/benchmark.h"
#include "src/cni/config.h"

namespace {

// A configuration of about `bytes` bytes, most of it the previous result.
std::string Config(size_t bytes) {
  std::string interfaces;
  for (int i = 0; interfaces.size() + 600 < bytes; ++i) {
    interfaces +=
        (i ? "," : "") + std::string(R"({"name":"eth)") + std::to_string(i) +
        R"(","mac":"0a:58:0a:f4:01:05","sandbox":"/var/run/netns/x"})";
  }
  return R"({"cniVersion":"1.0.0","name":"k8s-pod-network",)"
         R"("type":"meshcap-cni","capabilities":)"
         R"({"io.kubernetes.cri.pod-annotations":true},)"
         R"("runtimeConfig":{"io.kubernetes.cri.pod-annotations":)"
         R"({"sidecar.istio.io/status":"{}"}},)"
         R"("prevResult":{"cniVersion":"1.0.0","interfaces":[)" +
         interfaces +
         R"(],"ips":[{"address":"203.0.113.2/24","interface":0}]}})";
}

void BM_ParseConfig(benchmark::State& state) {
  const std::string text = Config(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::string version;
    auto c =
        meshcap::cni::ParseConfig(text, meshcap::cni::Command::kAdd, &version);
    if (!c.ok()) state.SkipWithError(c.error().msg.c_str());
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(text.size()));
  state.counters["bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_ParseConfig)
    ->Arg(1 << 10)
    ->Arg(64 << 10)
    ->Arg(1 << 20)
    ->Arg(16 << 20)
    ->Arg((64 << 20) - 4096)
    ->Unit(benchmark::kMillisecond);

// 80,000 small objects in an array, and one object of 80,000 keys: the
// shapes that made the old reader quadratic.
void BM_ParseWideShapes(benchmark::State& state) {
  std::string items;
  for (int i = 0; i < 80000; ++i) {
    items += (i ? "," : "") +
             (state.range(0) == 0
                  ? std::string(R"({"a":1})")
                  : "\"k" + std::to_string(i) + "\":" + std::to_string(i));
  }
  const std::string text =
      R"({"cniVersion":"1.0.0","name":"n","type":"meshcap-cni","prevResult":)" +
      (state.range(0) == 0 ? R"({"cniVersion":"1.0.0","x":[)" + items + "]}"
                           : "{" + items + "}") +
      "}";
  for (auto _ : state) {
    std::string version;
    auto c =
        meshcap::cni::ParseConfig(text, meshcap::cni::Command::kAdd, &version);
    benchmark::DoNotOptimize(c);
  }
  state.counters["bytes"] = static_cast<double>(text.size());
}
BENCHMARK(BM_ParseWideShapes)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
