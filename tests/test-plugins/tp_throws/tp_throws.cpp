// tp_throws: techniques that throw C++ exceptions.
//
//   tp_throw_guarded: written with the SDK's C++ helper, whose guard turns the exception thrown
//                     in finish_layer into MC_ERR_INTERNAL plus a host->fail() message.
//   tp_throw_raw:     a raw C function table whose begin_layer lets std::logic_error escape
//                     across the C ABI; the host must contain it (its last line of defence).
#include <stdexcept>

#include "mcomp/cpp/plugin.hpp"

namespace {

class Guarded {
  public:
    Guarded(const mcomp::sdk::Host& /*host*/, const mcomp::sdk::Params& /*params*/) {}
    void begin_layer(const mc_layer_info& /*info*/, const mc_tensor_view& /*weight*/) {}
    void observe(const mc_tensor_view& /*src*/) {}
    void plan_result(mc_layer_result_plan& plan) { plan.outputs = 0; }
    void finish_layer(mc_layer_result& /*dst*/) {
        throw std::runtime_error("boom in finish_layer");
    }
};

struct RawInstance {
    int unused = 0;
};

mc_status raw_create(const mc_host* /*host*/, const mc_params* /*params*/, mc_instance** out) {
    *out = reinterpret_cast<mc_instance*>(new RawInstance());
    return MC_OK;
}
void raw_destroy(mc_instance* self) {
    delete reinterpret_cast<RawInstance*>(self);
}
mc_status raw_begin_layer(mc_instance* /*self*/, const mc_layer_info* /*info*/,
                          const mc_tensor_view* /*weight*/) {
    throw std::logic_error("raw boom");  // the bug this plugin exists for
}
mc_status raw_observe(mc_instance* /*self*/, const mc_tensor_view* /*src*/) {
    return MC_OK;
}
mc_status raw_plan_result(mc_instance* /*self*/, mc_layer_result_plan* plan) {
    plan->outputs = 0;
    return MC_OK;
}
mc_status raw_finish_layer(mc_instance* /*self*/, mc_layer_result* /*dst*/) {
    return MC_OK;
}

constexpr mc_layer_technique kGuardedTable = mcomp::sdk::LayerTechnique<Guarded>::make_table(0);
constexpr mc_layer_technique kRawTable = {sizeof(mc_layer_technique),
                                          0,
                                          &raw_create,
                                          &raw_destroy,
                                          &raw_begin_layer,
                                          &raw_observe,
                                          &raw_plan_result,
                                          &raw_finish_layer};

const mc_technique_descriptor kTechniques[] = {
    mcomp::sdk::describe_layer_technique("tp_throw_guarded", "throws inside the C++ helper",
                                         MC_KIND_PRUNER, &kGuardedTable),
    mcomp::sdk::describe_layer_technique("tp_throw_raw", "throws through a raw C table",
                                         MC_KIND_PRUNER, &kRawTable),
};

}  // namespace

MCOMP_PLUGIN_ENTRY("tp_throws", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), kTechniques)
