// Stands in for Metal 4's <MetalPerformancePrimitives/MetalPerformancePrimitives.h>, which Core AI's
// metal4_kernel sources include (coreai.authoring.metal); bridgec's kernels use none of it.
#pragma once
#include "../../metal_shim.h"

namespace mpp {
namespace tensor_ops {}
}  // namespace mpp
