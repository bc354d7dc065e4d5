// bench_sparsegpt.cpp: speed of the `sparsegpt` plugin, loaded through the real host exactly as
// `mcomp run` loads it, on one device.
//
// For each weight shape [out, in] and each mode (50% unstructured, 2:4, optionally with joint
// 4-bit quantization) it times, per repeat:
//   hessian - observe() of every calibration sample: add_batch()'s running mean of 2 X^T X,
//             samples of `tokens` rows already on the device;
//   prune   - finish_layer(): dead columns, damping and the upper Cholesky factor of H^-1, the
//             blocked column loop with its mask selection and lazy updates, the outputs; the
//             number held against the reference's fasterprune().
// Every call goes through call_plugin(), which waits for the instance's CUDA stream, so the
// times include the GPU work. Medians of the repeats (one untimed warm-up round first). On the
// CPU it also measures oneDNN's fp32 matmul on a square product in the same run, so a loaded
// machine's numbers can be read against what the same cores deliver at that moment.
//
//   mcomp_bench_sparsegpt --device cuda --shapes 4096x4096,4096x11008 --samples 128
//                         --tokens 2048 --modes 50,2:4
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <dnnl.hpp>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "common/bench_util.hpp"
#include "core/discovery.hpp"
#include "core/host_services.hpp"
#include "core/layer_runner.hpp"
#include "core/loader.hpp"
#include "core/params.hpp"
#include "core/registry.hpp"

namespace mcomp {
namespace {

using namespace bench;  // the helpers every layer-technique benchmark shares

// "50", "2:4", "50+w4", "2:4+w4".
struct Mode {
    std::string name;
    double sparsity = 0.5;
    int64_t n = 0;
    int64_t m = 0;
    int64_t bits = 16;
};

struct Options {
    DeviceRequest device = DeviceRequest::cpu;
    std::vector<Shape> shapes = {{4096, 4096}, {4096, 11008}};
    std::vector<Mode> modes;
    int64_t samples = 128;
    int64_t tokens = 2048;
    int repeats = 3;
};

std::vector<std::string> split(const std::string& text, char separator) {
    std::vector<std::string> parts;
    size_t start = 0;
    while (start <= text.size()) {
        const size_t end = std::min(text.find(separator, start), text.size());
        parts.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool parse_modes(const std::string& text, std::vector<Mode>& modes) {
    modes.clear();
    for (const std::string& part : split(text, ',')) {
        Mode mode;
        mode.name = part;
        const std::vector<std::string> pieces = split(part, '+');
        if (pieces.size() == 2) {
            if (pieces[1] != "w4") {
                return false;
            }
            mode.bits = 4;
        }
        if (pieces.empty() || pieces.size() > 2) {
            return false;
        }
        if (std::sscanf(pieces[0].c_str(), "%ld:%ld", &mode.n, &mode.m) == 2) {
            if (mode.n <= 0 || mode.n >= mode.m) {
                return false;
            }
        } else {
            int percent = 0;
            if (std::sscanf(pieces[0].c_str(), "%d", &percent) != 1 || percent < 0 ||
                percent >= 100) {
                return false;
            }
            mode.sparsity = percent / 100.0;
            mode.n = 0;
            mode.m = 0;
        }
        modes.push_back(mode);
    }
    return !modes.empty();
}

bool parse_options(int argc, char** argv, Options& o) {
    parse_modes("50,2:4", o.modes);
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const std::string value = argv[i + 1];
        if (arg == "--device" && (value == "cpu" || value == "cuda")) {
            o.device = value == "cpu" ? DeviceRequest::cpu : DeviceRequest::cuda;
        } else if (arg == "--shapes") {
            if (!parse_shapes(value, o.shapes)) {
                return false;
            }
        } else if (arg == "--modes") {
            if (!parse_modes(value, o.modes)) {
                return false;
            }
        } else if (arg == "--samples") {
            o.samples = std::stol(value);
        } else if (arg == "--tokens") {
            o.tokens = std::stol(value);
        } else if (arg == "--repeats") {
            o.repeats = std::stoi(value);
        } else {
            return false;
        }
    }
    return argc % 2 == 1 && o.samples > 0 && o.tokens > 0 && o.repeats > 0;
}

struct Timing {
    double hessian_s = 0.0;
    double prune_s = 0.0;
};

// The outputs finish_layer() writes, sized for one shape (quantization outputs always, so one
// set serves every mode).
struct Outputs {
    Buffer weight, mask, codes, scales, zeros, g_idx;
    Outputs(HostServices& host, const Shape& s)
        : weight(host, static_cast<size_t>(s.out * s.in) * sizeof(float)),
          mask(host, static_cast<size_t>(s.out * s.in)),
          codes(host, static_cast<size_t>(s.out * s.in)),
          scales(host, static_cast<size_t>(s.out) * sizeof(float)),
          zeros(host, static_cast<size_t>(s.out) * sizeof(float)),
          g_idx(host, static_cast<size_t>(s.in) * sizeof(int32_t)) {}
    bool ok() const {
        return weight.data() && mask.data() && codes.data() && scales.data() && zeros.data() &&
               g_idx.data();
    }
};

Expected<Timing> bench_one(const LoadedTechnique& technique, const OwnedParams& params,
                           const Options& o, const Shape& shape) {
    const mc_device device = {static_cast<mc_device_type>(technique.device()), 0};
    HostServices host(technique.plugin_id(), "bench", device);
    MCOMP_TRY(host.prepare_device());
    mc_layer_technique table = {};
    std::memcpy(&table, technique.descriptor->layer,
                std::min<size_t>(technique.descriptor->layer->struct_size, sizeof(table)));
    const std::string label = technique.label();
    mc_instance* instance = nullptr;
    MCOMP_TRY(call_plugin(host, label, "create",
                          [&] { return table.create(host.raw(), params.get(), &instance); }));
    const std::unique_ptr<mc_instance, std::function<void(mc_instance*)>> owner(
        instance, [&](mc_instance* p) { table.destroy(p); });

    const size_t numel = static_cast<size_t>(shape.out * shape.in);
    const size_t sample_numel = static_cast<size_t>(o.tokens * shape.in);
    const Buffer weight(host, numel * sizeof(float));
    const Buffer sample(host, sample_numel * sizeof(float));
    const Outputs out(host, shape);
    if (weight.data() == nullptr || sample.data() == nullptr || !out.ok()) {
        return make_error(ErrorKind::internal, "out of memory for the benchmark buffers");
    }
    const std::vector<float> weight_values = random_values(numel, 1, 0.02f);
    const std::vector<float> sample_values = random_values(sample_numel, 2, 1.0f);
    MCOMP_TRY(
        host.copy_from_host(device, weight.data(), weight_values.data(), numel * sizeof(float)));
    MCOMP_TRY(host.copy_from_host(device, sample.data(), sample_values.data(),
                                  sample_numel * sizeof(float)));
    MCOMP_TRY(host.synchronize());

    const mc_tensor_view weight_view =
        make_view(MC_DTYPE_F32, device, shape.out, shape.in, weight.data());
    const mc_tensor_view src = make_view(MC_DTYPE_F32, device, o.tokens, shape.in, sample.data());
    const mc_layer_info info = {
        sizeof(mc_layer_info), "bench.layer", 0, shape.in, shape.out, device};
    mc_layer_result_plan plan = {sizeof(mc_layer_result_plan), 0, 0};
    std::vector<double> hessian_s;
    std::vector<double> prune_s;
    for (int round = 0; round <= o.repeats; ++round) {
        MCOMP_TRY(call_plugin(host, label, "begin_layer",
                              [&] { return table.begin_layer(instance, &info, &weight_view); }));
        auto start = std::chrono::steady_clock::now();
        for (int64_t s = 0; s < o.samples; ++s) {
            MCOMP_TRY(
                call_plugin(host, label, "observe", [&] { return table.observe(instance, &src); }));
        }
        const double hessian = seconds_since(start);
        MCOMP_TRY(call_plugin(host, label, "plan_result",
                              [&] { return table.plan_result(instance, &plan); }));
        const bool quant = (plan.outputs & MC_RESULT_QUANT) != 0;
        mc_layer_result dst = {};
        dst.struct_size = sizeof(mc_layer_result);
        dst.weight = make_view(MC_DTYPE_F32, device, shape.out, shape.in, out.weight.data());
        dst.mask = make_view(MC_DTYPE_U8, device, shape.out, shape.in, out.mask.data());
        if (quant) {
            dst.codes = make_view(MC_DTYPE_U8, device, shape.out, shape.in, out.codes.data());
            dst.scales = make_view(MC_DTYPE_F32, device, shape.out, 1, out.scales.data());
            dst.zeros = make_view(MC_DTYPE_F32, device, shape.out, 1, out.zeros.data());
            dst.g_idx = make_view(MC_DTYPE_I32, device, shape.in, 0, out.g_idx.data());
        }
        start = std::chrono::steady_clock::now();
        MCOMP_TRY(call_plugin(host, label, "finish_layer",
                              [&] { return table.finish_layer(instance, &dst); }));
        const double prune = seconds_since(start);
        if (round > 0) {
            hessian_s.push_back(hessian);
            prune_s.push_back(prune);
        }
    }
    return Timing{median(hessian_s), median(prune_s)};
}

// oneDNN fp32 matmul [n, n] x [n, n] in GFLOP/s (2 n^3 flops), median of 5.
double onednn_matmul_gflops(int64_t n) {
    using dt = dnnl::memory::data_type;
    const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
    dnnl::stream stream(engine);
    const dnnl::memory::desc md({n, n}, dt::f32, dnnl::memory::format_tag::ab);
    const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(md, md, md), engine);
    const dnnl::matmul matmul(pd);
    std::vector<float> a = random_values(static_cast<size_t>(n * n), 3, 1.0f);
    std::vector<float> b = random_values(static_cast<size_t>(n * n), 4, 1.0f);
    std::vector<float> c(static_cast<size_t>(n * n));
    dnnl::memory am(md, engine, a.data()), bm(md, engine, b.data()), cm(md, engine, c.data());
    std::vector<double> times;
    for (int i = 0; i < 6; ++i) {
        const auto start = std::chrono::steady_clock::now();
        matmul.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
        stream.wait();
        if (i > 0) {
            times.push_back(seconds_since(start));
        }
    }
    return 2.0 * static_cast<double>(n * n) * static_cast<double>(n) / median(times) / 1e9;
}

int run(const Options& o) {
    spdlog::set_level(spdlog::level::warn);  // the plugin logs every layer at info
    const Registry registry(default_plugin_search_path());
    auto technique = registry.load_technique("sparsegpt", o.device);
    if (!technique) {
        std::fprintf(stderr, "mcomp_bench_sparsegpt: %s\n", technique.error().message.c_str());
        return 1;
    }
    const char* device_name = o.device == DeviceRequest::cpu ? "cpu" : "cuda";
    std::printf(
        "| device | shape [out, in] | mode | hessian: %ld samples x %ld tokens (s) | "
        "prune, block 128 (s) | hessian GFLOP/s (SYRK) |\n|---|---|---|---|---|---|\n",
        o.samples, o.tokens);
    for (const Shape& shape : o.shapes) {
        for (const Mode& mode : o.modes) {
            auto params = bind_params(*technique->manifest, {{"sparsity", mode.sparsity, ""},
                                                             {"n", mode.n, ""},
                                                             {"m", mode.m, ""},
                                                             {"bits", mode.bits, ""}});
            if (!params) {
                std::fprintf(stderr, "mcomp_bench_sparsegpt: %s\n", params.error().message.c_str());
                return 1;
            }
            auto timing = bench_one(*technique, *params, o, shape);
            if (!timing) {
                std::fprintf(stderr, "mcomp_bench_sparsegpt: %s\n", timing.error().message.c_str());
                return 1;
            }
            const double flops = static_cast<double>(o.samples) * o.tokens * shape.in *
                                 static_cast<double>(shape.in + 1);
            std::printf("| %s | %ldx%ld | %s | %.4f | %.4f | %.1f |\n", device_name, shape.out,
                        shape.in, mode.name.c_str(), timing->hessian_s, timing->prune_s,
                        flops / timing->hessian_s / 1e9);
            std::fflush(stdout);
        }
    }
    if (o.device == DeviceRequest::cpu) {
        std::printf("\noneDNN fp32 matmul 2048x2048x2048 in the same run: %.1f GFLOP/s\n",
                    onednn_matmul_gflops(2048));
    }
    return 0;
}

}  // namespace
}  // namespace mcomp

int main(int argc, char** argv) {
    mcomp::Options options;
    if (!mcomp::parse_options(argc, argv, options)) {
        std::fprintf(stderr,
                     "usage: mcomp_bench_sparsegpt [--device cpu|cuda] [--shapes OUTxIN,...] "
                     "[--modes 50,2:4,50+w4,2:4+w4] [--samples N] [--tokens N] [--repeats N]\n");
        return 2;
    }
    return mcomp::run(options);
}
