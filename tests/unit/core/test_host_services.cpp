// test_host_services.cpp: the mc_host a plugin gets — logging into "plugin.<id>", fail() copies,
// aligned allocation, extensions, cancellation and the SIGINT handler, rate-limited progress —
// and call_plugin(), the host's boundary around every call into plugin code.
#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "core/host_services.hpp"
#include "core/loader.hpp"
#include "mcomp/extension.h"

namespace mcomp {
namespace {

// Routes the default logger (and so every plugin logger created after it) into a ring buffer.
class HostServicesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        previous_ = spdlog::default_logger();
        sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(64);
        auto logger = std::make_shared<spdlog::logger>("test", sink_);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    void TearDown() override {
        spdlog::set_default_logger(previous_);
        reset_cancel();
    }

    std::shared_ptr<spdlog::logger> previous_;
    std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
};

TEST_F(HostServicesTest, FillsTheHostTable) {
    HostServices services("tp_table", "t", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    EXPECT_EQ(host->struct_size, sizeof(mc_host));
    EXPECT_EQ(host->abi_version, MC_ABI_VERSION);
    EXPECT_NE(host->log, nullptr);
    EXPECT_NE(host->progress, nullptr);
    EXPECT_NE(host->is_cancelled, nullptr);
    EXPECT_NE(host->fail, nullptr);
    EXPECT_NE(host->alloc, nullptr);
    EXPECT_NE(host->free_memory, nullptr);
    EXPECT_EQ(host->cuda_stream(host), nullptr);  // a CPU instance has no stream
    EXPECT_TRUE(services.prepare_device());       // no-op on the CPU
    EXPECT_TRUE(services.synchronize());
}

TEST_F(HostServicesTest, LogGoesToThePluginLogger) {
    HostServices services("tp_log", "", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    host->log(host, MC_LOG_WARN, "hello from the plugin");
    host->log(host, MC_LOG_DEBUG, "details");
    host->log(host, MC_LOG_INFO, nullptr);  // ignored
    const auto records = sink_->last_raw(2);
    ASSERT_EQ(records.size(), 2u);
    EXPECT_EQ(std::string(records[0].logger_name.begin(), records[0].logger_name.end()),
              "plugin.tp_log");
    EXPECT_EQ(records[0].level, spdlog::level::warn);
    EXPECT_EQ(std::string(records[0].payload.begin(), records[0].payload.end()),
              "hello from the plugin");
    EXPECT_EQ(records[1].level, spdlog::level::debug);
    EXPECT_EQ(plugin_logger("tp_log"), spdlog::get("plugin.tp_log"));
}

TEST_F(HostServicesTest, FailCopiesTheMessage) {
    HostServices services("tp_fail", "", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    char message[32] = "the hessian is not positive";
    EXPECT_EQ(host->fail(host, MC_ERR_NUMERICAL, message), MC_ERR_NUMERICAL);
    std::memset(message, 'x', sizeof(message) - 1);  // the plugin's buffer changes afterwards
    const PluginFailure failure = services.take_failure();
    EXPECT_EQ(failure.code, MC_ERR_NUMERICAL);
    EXPECT_EQ(failure.message, "the hessian is not positive");
    EXPECT_EQ(services.take_failure().code, MC_OK);  // taken once
    EXPECT_EQ(host->fail(host, MC_ERR_INTERNAL, nullptr), MC_ERR_INTERNAL);
    EXPECT_EQ(services.take_failure().message, "");
}

TEST_F(HostServicesTest, CpuAllocationsAre256ByteAligned) {
    HostServices services("tp_alloc", "", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    for (const size_t num_bytes :
         {size_t{0}, size_t{1}, size_t{255}, size_t{1000}, size_t{1} << 20}) {
        void* ptr = host->alloc(host, {MC_DEVICE_CPU, 0}, num_bytes);
        ASSERT_NE(ptr, nullptr) << num_bytes;
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(ptr) % 256, 0u) << num_bytes;
        std::memset(ptr, 0xab, num_bytes);
        host->free_memory(host, {MC_DEVICE_CPU, 0}, ptr);
    }
    host->free_memory(host, {MC_DEVICE_CPU, 0}, nullptr);  // allowed
    EXPECT_EQ(host->alloc(host, {99, 0}, 16), nullptr);    // unknown device
}

TEST_F(HostServicesTest, OffersHostInfoOnly) {
    HostServices services("tp_ext", "", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    const auto* info =
        static_cast<const mc_ext_host_info*>(host->get_extension(host, MC_EXT_HOST_INFO));
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->struct_size, sizeof(mc_ext_host_info));
    EXPECT_STREQ(info->host_version, MCOMP_VERSION_STRING);
    EXPECT_GE(info->num_threads, 1);
    EXPECT_EQ(host->get_extension(host, "mc.host-info/2"), nullptr);
    EXPECT_EQ(host->get_extension(host, "mc.unknown/1"), nullptr);
    EXPECT_EQ(host->get_extension(host, nullptr), nullptr);
}

TEST_F(HostServicesTest, CancellationFlag) {
    HostServices services("tp_cancel", "", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    EXPECT_EQ(host->is_cancelled(host), 0);
    request_cancel();
    EXPECT_EQ(host->is_cancelled(host), 1);
    EXPECT_TRUE(cancel_requested());
    reset_cancel();
    EXPECT_EQ(host->is_cancelled(host), 0);
}

TEST_F(HostServicesTest, FirstSigintCancelsSecondIsTheDefault) {
    install_sigint_handler();
    ASSERT_EQ(std::raise(SIGINT), 0);
    EXPECT_TRUE(cancel_requested());
    struct sigaction now = {};
    ASSERT_EQ(sigaction(SIGINT, nullptr, &now), 0);
    EXPECT_EQ(now.sa_handler, SIG_DFL);  // a second Ctrl-C ends the process
}

TEST_F(HostServicesTest, ProgressIsRateLimited) {
    if (isatty(STDERR_FILENO) != 0) {
        GTEST_SKIP() << "stderr is a terminal: progress is drawn as a bar, not logged";
    }
    HostServices services("tp_progress", "tp_technique", {MC_DEVICE_CPU, 0});
    const mc_host* host = services.raw();
    for (int64_t done = 0; done <= 10000; ++done) {
        host->progress(host, done, 10000, "columns");
    }
    const auto records = sink_->last_raw();
    ASSERT_EQ(records.size(), 1u);  // the first line; the rest fall inside the interval
    EXPECT_EQ(std::string(records[0].payload.begin(), records[0].payload.end()),
              "tp_technique: 0/10000 columns (0%)");
}

// ---- call_plugin ------------------------------------------------------------------------------

struct CallCase {
    const char* name;
    std::function<mc_status(const mc_host*)> body;
    std::string message;  // "" = success
    ErrorKind kind;
};

void PrintTo(const CallCase& c, std::ostream* os) {
    *os << c.name;
}

class CallPlugin : public ::testing::TestWithParam<CallCase> {};

TEST_P(CallPlugin, ReportsWhatHappened) {
    HostServices services("tp_call", "", {MC_DEVICE_CPU, 0});
    const Status status = call_plugin(services, "plugin 'x' technique 'y'", "observe",
                                      [&] { return GetParam().body(services.raw()); });
    if (GetParam().message.empty()) {
        EXPECT_TRUE(status) << status.error().message;
        return;
    }
    ASSERT_FALSE(status);
    EXPECT_EQ(status.error().message, GetParam().message);
    EXPECT_EQ(status.error().kind, GetParam().kind);
}

INSTANTIATE_TEST_SUITE_P(
    Table, CallPlugin,
    ::testing::Values(
        CallCase{"ok", [](const mc_host*) { return MC_OK; }, "", ErrorKind::internal},
        CallCase{"failed_with_message",
                 [](const mc_host* h) { return h->fail(h, MC_ERR_NUMERICAL, "not positive"); },
                 "plugin 'x' technique 'y': observe failed with MC_ERR_NUMERICAL: not positive",
                 ErrorKind::internal},
        CallCase{"invalid_argument_is_bad_input",
                 [](const mc_host* h) { return h->fail(h, MC_ERR_INVALID_ARGUMENT, "bad shape"); },
                 "plugin 'x' technique 'y': observe failed with MC_ERR_INVALID_ARGUMENT: bad shape",
                 ErrorKind::bad_input},
        CallCase{"cancelled",
                 [](const mc_host* h) { return h->fail(h, MC_ERR_CANCELLED, "stopped"); },
                 "plugin 'x' technique 'y': observe failed with MC_ERR_CANCELLED: stopped",
                 ErrorKind::cancelled},
        CallCase{"unsupported", [](const mc_host*) { return MC_ERR_UNSUPPORTED; },
                 "plugin 'x' technique 'y': observe failed with MC_ERR_UNSUPPORTED: (the plugin "
                 "gave no details)",
                 ErrorKind::unsupported},
        CallCase{"unknown_status", [](const mc_host*) { return mc_status{42}; },
                 "plugin 'x' technique 'y': observe failed with an unknown status: (the plugin "
                 "gave no details)",
                 ErrorKind::internal},
        CallCase{"std_exception",
                 [](const mc_host*) -> mc_status { throw std::runtime_error("escaped"); },
                 "plugin 'x' technique 'y': observe let a C++ exception escape "
                 "(std::runtime_error: escaped); a plugin must return an mc_status instead, so "
                 "this is a bug in the plugin",
                 ErrorKind::internal},
        CallCase{"other_exception", [](const mc_host*) -> mc_status { throw 42; },
                 "plugin 'x' technique 'y': observe let a C++ exception escape (an exception of "
                 "unknown type); a plugin must return an mc_status instead, so this is a bug in "
                 "the plugin",
                 ErrorKind::internal}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(StatusNames, EveryStatusHasAName) {
    EXPECT_EQ(status_name(MC_OK), "MC_OK");
    EXPECT_EQ(status_name(MC_ERR_ABI), "MC_ERR_ABI");
    EXPECT_EQ(status_name(MC_ERR_OUT_OF_MEMORY), "MC_ERR_OUT_OF_MEMORY");
    EXPECT_EQ(status_name(MC_ERR_DEVICE), "MC_ERR_DEVICE");
    EXPECT_EQ(status_error_kind(MC_ERR_DEVICE), ErrorKind::internal);
}

}  // namespace
}  // namespace mcomp
