// core/src/topology.hpp — which CPUs make up which (real or fake) NUMA node.
#pragma once

#include <cstddef>
#include <vector>

namespace iowq::detail {

struct Topology {
  std::vector<std::vector<int>> node_cpus;  // per node, sorted, never empty
  std::vector<int> cpu_node;                // by CPU id; CPUs of no node map to 0
  int node_of(int cpu) const noexcept {
    return (cpu >= 0 && static_cast<size_t>(cpu) < cpu_node.size()) ? cpu_node[static_cast<size_t>(cpu)] : 0;
  }
};

// numa_nodes: -1 real (libnuma; one node when unavailable), 0 one node, N>0 a
// split of the allowed CPUs into N contiguous fake nodes (at most one per CPU).
// Only CPUs in the process's affinity mask are used.
Topology build_topology(int numa_nodes);

}  // namespace iowq::detail
