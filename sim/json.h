// JSON conventions of the simulator: replies and private pushes are built with insertion-ordered
// objects so key order is exactly what the exchange sends.
#pragma once

#include <nlohmann/json.hpp>

namespace bx::sim {
using OJson = nlohmann::ordered_json;
}  // namespace bx::sim
