// pick() cost per algorithm over 8 servers, all usable and with two unusable.
#include <benchmark/benchmark.h>

#include <vector>

#include "lb/balancer.h"

namespace {

using sg::config::BalanceAlgorithm;
using sg::lb::PickContext;
using sg::lb::ServerSpec;

void runPick(benchmark::State& state, BalanceAlgorithm algorithm, bool some_unusable) {
  std::vector<ServerSpec> servers;
  for (uint32_t i = 0; i < 8; ++i) servers.push_back(ServerSpec{i + 1, i == 7});
  std::vector<uint8_t> usable(servers.size(), 1);
  if (some_unusable) usable[1] = usable[4] = 0;
  auto balancer = sg::lb::makeBalancer(algorithm, servers);
  const PickContext context{usable};
  for (auto _ : state) benchmark::DoNotOptimize(balancer->pick(context));
}

void BM_RoundRobinPick(benchmark::State& state) {
  runPick(state, BalanceAlgorithm::kRoundRobin, state.range(0) != 0);
}
void BM_WeightedRoundRobinPick(benchmark::State& state) {
  runPick(state, BalanceAlgorithm::kWeightedRoundRobin, state.range(0) != 0);
}

BENCHMARK(BM_RoundRobinPick)->Arg(0)->Arg(1);
BENCHMARK(BM_WeightedRoundRobinPick)->Arg(0)->Arg(1);

}  // namespace
