#!/usr/bin/env bash
# README command 1: set up, build the bundled example (a MobileNet-style face segmenter with ReLU6
# and an nn.Hardtanh), convert it in every -O mode to NeuralNetwork .mlmodel files, showing each op
# report, then to an ML Program .mlpackage (the default format), verify an fp16 one, and write a Core AI
# .aimodel (iOS27) checked in Apple's own runtime.
# Outputs go to ./out/ (or $1).
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-out}"
# BRIDGEC_BIN: an environment already set up (tests/test_readme_commands.py runs the demo in its own)
bin="${BRIDGEC_BIN:-$(bash "$repo/tools/setup.sh" | tail -n 1)}" || exit 1
mkdir -p "$out"
"$bin/python" "$repo/examples/faceseg.py" -o "$out/faceseg.pt" 2>/dev/null || exit 1

for mode in none lower custom lower-custom; do
  echo
  echo "==> bridgec $out/faceseg.pt --input x:1x3x256x256 -O $mode -o $out/faceseg_$mode.mlmodel"
  "$bin/bridgec" "$out/faceseg.pt" --input x:1x3x256x256 -O "$mode" -o "$out/faceseg_$mode.mlmodel"
  status=$?
  if [ "$mode" = none ]; then
    # hardtanh has no Core ML layer: -O none must refuse, naming the nodes (exit 1).
    [ $status -eq 1 ] && echo "(expected: -O none does no rewriting, and Core ML has no hardtanh)" || exit 1
  elif [ $status -ne 0 ]; then
    exit $status
  fi
done
echo
echo "==> bridgec $out/faceseg.pt --input x:1x3x256x256 -o $out/faceseg.mlpackage   (the default format: an ML Program)"
"$bin/bridgec" "$out/faceseg.pt" --input x:1x3x256x256 -o "$out/faceseg.mlpackage" || exit 1
echo
echo "==> bridgec verify $out/faceseg.pt --input x:1x3x256x256 --precision fp16   (PyTorch vs onnxruntime vs the ML Program)"
"$bin/bridgec" verify "$out/faceseg.pt" --input x:1x3x256x256 --precision fp16 -q || exit 1
echo
if "$bin/python" -c "import coreai.authoring" 2>/dev/null; then
  echo "==> bridgec $out/faceseg.pt --input x:1x3x256x256 --format coreai -o $out/faceseg.aimodel   (Core AI, iOS27; checked in Apple's runtime)"
  "$bin/bridgec" "$out/faceseg.pt" --input x:1x3x256x256 --format coreai -o "$out/faceseg.aimodel" || exit 1
else
  echo "==> skipping --format coreai: coreai-core has no wheel for this platform (Linux x86_64 with glibc 2.34+, macOS arm64)"
fi
echo
echo "models and kernels are in $out/; the custom-layer kernels for -O custom are in $out/bridgec_kernels/ (a Swift package: docs/kernels-package.md)"
echo "(every conversion above ended with the line saying what its numbers check proved)"
