// bench_gptq.cpp: speed of the `gptq` plugin, loaded through the real host exactly as
// `mcomp run` loads it, on one device.
//
// For each weight shape [out, in] it times, per repeat:
//   hessian   - observe() of every calibration sample: add_batch()'s running mean of 2 X^T X,
//               samples of `tokens` rows already on the device;
//   quantize  - finish_layer(): dead columns, (act-order), damping and the upper Cholesky
//               factor of H^-1, the blocked column loop with lazy updates, the outputs; the
//               number held against the reference's fasterquant().
// Every call goes through call_plugin(), which waits for the instance's CUDA stream, so the
// times include the GPU work. Medians of the repeats. On the CPU it also measures oneDNN's
// fp32 matmul on a square product in the same run and reports the Hessian's throughput as a
// fraction of it (SYRK flops: tokens * in * (in + 1) per sample).
//
//   mcomp_bench_gptq --device cuda --shapes 4096x4096,4096x11008 --samples 128 --tokens 2048
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

struct Options {
    DeviceRequest device = DeviceRequest::cpu;
    std::vector<Shape> shapes = {{4096, 4096}, {4096, 11008}};
    int64_t samples = 128;
    int64_t tokens = 2048;
    int repeats = 3;
    int64_t group_size = 128;
    std::vector<bool> act_orders = {false, true};
};

bool parse_options(int argc, char** argv, Options& o) {
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string arg = argv[i];
        const std::string value = argv[i + 1];
        if (arg == "--device" && (value == "cpu" || value == "cuda")) {
            o.device = value == "cpu" ? DeviceRequest::cpu : DeviceRequest::cuda;
        } else if (arg == "--shapes") {
            if (!parse_shapes(value, o.shapes)) {
                return false;
            }
        } else if (arg == "--samples") {
            o.samples = std::stol(value);
        } else if (arg == "--tokens") {
            o.tokens = std::stol(value);
        } else if (arg == "--repeats") {
            o.repeats = std::stoi(value);
        } else if (arg == "--group-size") {
            o.group_size = std::stol(value);
        } else if (arg == "--act-order" && (value == "both" || value == "on" || value == "off")) {
            o.act_orders =
                value == "both" ? std::vector<bool>{false, true} : std::vector<bool>{value == "on"};
        } else {
            return false;
        }
    }
    return argc % 2 == 1 && o.samples > 0 && o.tokens > 0 && o.repeats > 0;
}

struct Timing {
    double hessian_s = 0.0;
    double quantize_s = 0.0;
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

    const int64_t groups = o.group_size > 0 ? (shape.in + o.group_size - 1) / o.group_size : 1;
    const size_t numel = static_cast<size_t>(shape.out * shape.in);
    const size_t sample_numel = static_cast<size_t>(o.tokens * shape.in);
    const Buffer weight(host, numel * sizeof(float));
    const Buffer sample(host, sample_numel * sizeof(float));
    const Buffer dst_weight(host, numel * sizeof(float));
    const Buffer codes(host, numel);
    const Buffer scales(host, static_cast<size_t>(shape.out * groups) * sizeof(float));
    const Buffer zeros(host, static_cast<size_t>(shape.out * groups) * sizeof(float));
    const Buffer g_idx(host, static_cast<size_t>(shape.in) * sizeof(int32_t));
    for (const Buffer* b : {&weight, &sample, &dst_weight, &codes, &scales, &zeros, &g_idx}) {
        if (b->data() == nullptr) {
            return make_error(ErrorKind::internal, "out of memory for the benchmark buffers");
        }
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
    mc_layer_result dst = {};
    dst.struct_size = sizeof(mc_layer_result);
    dst.weight = make_view(MC_DTYPE_F32, device, shape.out, shape.in, dst_weight.data());
    dst.codes = make_view(MC_DTYPE_U8, device, shape.out, shape.in, codes.data());
    dst.scales = make_view(MC_DTYPE_F32, device, shape.out, groups, scales.data());
    dst.zeros = make_view(MC_DTYPE_F32, device, shape.out, groups, zeros.data());
    dst.g_idx = make_vector_view(MC_DTYPE_I32, device, shape.in, g_idx.data());

    std::vector<double> hessian_s;
    std::vector<double> quantize_s;
    // One extra, untimed round first: library warm-up, CUDA module load, pool growth.
    for (int round = 0; round <= o.repeats; ++round) {
        MCOMP_TRY(call_plugin(host, label, "begin_layer",
                              [&] { return table.begin_layer(instance, &info, &weight_view); }));
        auto start = std::chrono::steady_clock::now();
        for (int64_t s = 0; s < o.samples; ++s) {
            MCOMP_TRY(
                call_plugin(host, label, "observe", [&] { return table.observe(instance, &src); }));
        }
        const double hessian = seconds_since(start);
        mc_layer_result_plan plan = {sizeof(mc_layer_result_plan), 0, 0};
        MCOMP_TRY(call_plugin(host, label, "plan_result",
                              [&] { return table.plan_result(instance, &plan); }));
        start = std::chrono::steady_clock::now();
        MCOMP_TRY(call_plugin(host, label, "finish_layer",
                              [&] { return table.finish_layer(instance, &dst); }));
        const double quantize = seconds_since(start);
        if (round > 0) {
            hessian_s.push_back(hessian);
            quantize_s.push_back(quantize);
        }
    }
    return Timing{median(hessian_s), median(quantize_s)};
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
    return 2.0 * n * n * n / median(times) / 1e9;
}

int run(const Options& o) {
    spdlog::set_level(spdlog::level::warn);  // the plugin reports progress at info
    const Registry registry(default_plugin_search_path());
    auto technique = registry.load_technique("gptq", o.device);
    if (!technique) {
        std::fprintf(stderr, "mcomp_bench_gptq: %s\n", technique.error().message.c_str());
        return 1;
    }
    const char* device_name = o.device == DeviceRequest::cpu ? "cpu" : "cuda";
    const double peak = o.device == DeviceRequest::cpu ? onednn_matmul_gflops(2048) : 0.0;
    std::printf(
        "| device | shape [out, in] | act-order | hessian: %ld samples x %ld tokens (s) | "
        "quantize w4 g%ld (s) | hessian GFLOP/s (SYRK) |\n|---|---|---|---|---|---|\n",
        o.samples, o.tokens, o.group_size);
    for (const Shape& shape : o.shapes) {
        for (const bool act_order : o.act_orders) {
            auto params = bind_params(*technique->manifest, {{"bits", int64_t{4}, ""},
                                                             {"group_size", o.group_size, ""},
                                                             {"act_order", act_order, ""}});
            if (!params) {
                std::fprintf(stderr, "mcomp_bench_gptq: %s\n", params.error().message.c_str());
                return 1;
            }
            auto timing = bench_one(*technique, *params, o, shape);
            if (!timing) {
                std::fprintf(stderr, "mcomp_bench_gptq: %s\n", timing.error().message.c_str());
                return 1;
            }
            const double flops = static_cast<double>(o.samples) * o.tokens * shape.in *
                                 static_cast<double>(shape.in + 1);
            std::printf("| %s | %ldx%ld | %s | %.4f | %.4f | %.1f |\n", device_name, shape.out,
                        shape.in, act_order ? "yes" : "no", timing->hessian_s, timing->quantize_s,
                        flops / timing->hessian_s / 1e9);
            std::fflush(stdout);
        }
    }
    if (peak > 0.0) {
        std::printf(
            "\noneDNN fp32 matmul 2048x2048x2048 in the same run: %.1f GFLOP/s; the "
            "Hessian's SYRK throughput above is measured against it.\n",
            peak);
    }
    return 0;
}

}  // namespace
}  // namespace mcomp

int main(int argc, char** argv) {
    mcomp::Options options;
    if (!mcomp::parse_options(argc, argv, options)) {
        std::fprintf(stderr,
                     "usage: mcomp_bench_gptq [--device cpu|cuda] [--shapes OUTxIN,...] "
                     "[--samples N] [--tokens N] [--repeats N] [--group-size G] "
                     "[--act-order both|on|off]\n");
        return 2;
    }
    return mcomp::run(options);
}
