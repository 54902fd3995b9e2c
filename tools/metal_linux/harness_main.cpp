// Runs bridgec's Metal kernels (compiled as C++ with metal_shim.h) on the CPU the way Core ML's
// GPU path would: textures in Core ML's custom-layer layout, and a dispatch of whole threadgroups
// sized exactly like BridgecMetalDispatch.threadgroups in LayerSupport.swift.
//
// Reads cases from stdin, one per two lines:
//   <kernel> <N> <C> <H> <W> <threadExecutionWidth> <maxTotalThreadsPerThreadgroup> <params hex | ->
//   <N*C*H*W binary16 bit patterns in hex, NCHW order>
// and writes for each case:
//   ok <threads dispatched> <threads outside the texture>
//   <N*C*H*W binary16 bit patterns of the output, NCHW order>
// Texture layout (Core ML custom layers on the GPU, .rgba16Float 2D array): width = W, height = H,
// arrayLength = N * ceil(C / 4); channel c of batch item n is slice n * ceil(C / 4) + c / 4, lane c % 4.
// Padding lanes of the last slice of each batch item are filled with junk (NaN, inf, 1.0) to show
// they do not matter. Aborts (non-zero exit) on an unknown kernel, a parameter block of the wrong
// size, an out-of-range texture access, or an output texel not written exactly once.
#include <iostream>
#include <sstream>

#include "harness.h"

namespace bridgec_harness {
std::vector<KernelEntry>& registry() {
    static std::vector<KernelEntry> entries;
    return entries;
}
}  // namespace bridgec_harness

using namespace bridgec_harness;

static void fail(const std::string& message) {
    std::fprintf(stderr, "metal harness: %s\n", message.c_str());
    std::exit(2);
}

static std::vector<unsigned char> parse_hex_bytes(const std::string& hex) {
    std::vector<unsigned char> bytes;
    if (hex == "-") return bytes;
    if (hex.size() % 2) fail("odd-length parameter hex " + hex);
    for (size_t i = 0; i < hex.size(); i += 2) bytes.push_back(std::stoul(hex.substr(i, 2), nullptr, 16));
    return bytes;
}

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        std::istringstream header(line);
        std::string name, params_hex;
        long n, c, h, w, exec_width, max_threads;
        if (!(header >> name >> n >> c >> h >> w >> exec_width >> max_threads >> params_hex)) fail("bad header: " + line);
        const KernelEntry* entry = nullptr;
        for (const auto& e : registry())
            if (e.name == name) entry = &e;
        if (!entry) fail("unknown kernel " + name);
        std::vector<unsigned char> params = parse_hex_bytes(params_hex);
        if (params.size() != entry->param_size)
            fail(name + ": parameter block is " + std::to_string(params.size()) + " bytes, the kernel's struct is " +
                 std::to_string(entry->param_size));
        if (entry->param_size == 0) params.push_back(0);

        const long count = n * c * h * w;
        std::string data_line;
        if (!std::getline(std::cin, data_line)) fail("missing data line");
        std::istringstream data(data_line);
        std::vector<uint16_t> input(count);
        for (long i = 0; i < count; ++i) {
            std::string word;
            if (!(data >> word)) fail("short data line");
            input[i] = static_cast<uint16_t>(std::stoul(word, nullptr, 16));
        }

        const long slices = (c + 3) / 4;
        texture_store<half> in_tex(w, h, n * slices), out_tex(w, h, n * slices);
        const uint16_t junk[3] = {0x7e00, 0x7c00, 0x3c00};
        for (size_t t = 0; t < in_tex.texels.size(); ++t)
            for (int lane = 0; lane < 4; ++lane) in_tex.texels[t][lane] = metal::as_type<half>(junk[(t + lane) % 3]);
        auto texel = [&](long b, long ch, long y, long x) { return ((b * slices + ch / 4) * h + y) * w + x; };
        for (long b = 0; b < n; ++b)
            for (long ch = 0; ch < c; ++ch)
                for (long y = 0; y < h; ++y)
                    for (long x = 0; x < w; ++x)
                        in_tex.texels[texel(b, ch, y, x)][ch % 4] =
                            metal::as_type<half>(input[((b * c + ch) * h + y) * w + x]);

        // BridgecMetalDispatch.threadgroups(for: output, pipeline:)
        const long max_total = std::max(1L, max_threads);
        const long tg_w = std::max(1L, std::min(exec_width, max_total));
        const long tg_h = std::max(1L, std::min(max_total / tg_w, h));
        const long groups_x = (w + tg_w - 1) / tg_w, groups_y = (h + tg_h - 1) / tg_h, groups_z = n * slices;

        long dispatched = 0, outside = 0;
        for (long gz = 0; gz < groups_z; ++gz)
            for (long gy = 0; gy < groups_y; ++gy)
                for (long gx = 0; gx < groups_x; ++gx)
                    for (long ty = 0; ty < tg_h; ++ty)
                        for (long tx = 0; tx < tg_w; ++tx) {
                            metal::uint3 gid(gx * tg_w + tx, gy * tg_h + ty, gz);
                            ++dispatched;
                            if (gid.x >= (unsigned)w || gid.y >= (unsigned)h) ++outside;
                            entry->run(in_tex, out_tex, params.data(), gid);
                        }
        for (size_t t = 0; t < out_tex.writes.size(); ++t)
            if (out_tex.writes[t] != 1) fail(name + ": texel " + std::to_string(t) + " written " +
                                             std::to_string(out_tex.writes[t]) + " times");

        std::printf("ok %ld %ld\n", dispatched, outside);
        for (long b = 0; b < n; ++b)
            for (long ch = 0; ch < c; ++ch)
                for (long y = 0; y < h; ++y)
                    for (long x = 0; x < w; ++x)
                        std::printf("%04x ", metal::as_type<uint16_t>(out_tex.texels[texel(b, ch, y, x)][ch % 4]));
        std::printf("\n");
    }
    return 0;
}
