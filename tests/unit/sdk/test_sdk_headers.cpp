// test_sdk_headers.cpp: the ABI helpers behave as the headers promise.
#include <gtest/gtest.h>

#include "mcomp/cpp/plugin.hpp"

TEST(Abi, VersionPackingAndCompatibility) {
    EXPECT_EQ(MC_ABI_MAJOR(MC_ABI_MAKE(1, 7)), 1u);
    EXPECT_EQ(MC_ABI_MINOR(MC_ABI_MAKE(1, 7)), 7u);
    EXPECT_TRUE(MC_ABI_COMPATIBLE(MC_ABI_MAKE(1, 2), MC_ABI_MAKE(1, 0)));
    EXPECT_TRUE(MC_ABI_COMPATIBLE(MC_ABI_MAKE(1, 2), MC_ABI_MAKE(1, 2)));
    EXPECT_FALSE(MC_ABI_COMPATIBLE(MC_ABI_MAKE(1, 2), MC_ABI_MAKE(1, 3)));
    EXPECT_FALSE(MC_ABI_COMPATIBLE(MC_ABI_MAKE(2, 0), MC_ABI_MAKE(1, 0)));
}

TEST(Abi, StructSizeGatesFieldAccess) {
    mc_layer_result_plan plan{};
    plan.struct_size = offsetof(mc_layer_result_plan, num_groups);  // an older, shorter struct
    EXPECT_TRUE(MC_HAS_FIELD(&plan, mc_layer_result_plan, outputs));
    EXPECT_FALSE(MC_HAS_FIELD(&plan, mc_layer_result_plan, num_groups));
}

TEST(Tensor, SizesAndContiguity) {
    mc_tensor_view v{};
    v.struct_size = sizeof(v);
    v.dtype = MC_DTYPE_BF16;
    v.ndim = 2;
    v.shape[0] = 3;
    v.shape[1] = 4;
    v.strides[0] = 4;
    v.strides[1] = 1;
    EXPECT_EQ(mc_dtype_size(v.dtype), 2u);
    EXPECT_EQ(mc_tensor_numel(&v), 12);
    EXPECT_TRUE(mc_tensor_is_contiguous(&v));
    v.strides[0] = 8;  // a column slice of a wider matrix
    EXPECT_FALSE(mc_tensor_is_contiguous(&v));
    EXPECT_EQ(mc_dtype_size(0), 0u);
}

TEST(Params, TypedAccessWithFallbacks) {
    mc_param items[3]{};
    items[0] = {sizeof(mc_param), "bits", MC_PARAM_INT, 3, 0.0, nullptr};
    items[1] = {sizeof(mc_param), "damp", MC_PARAM_FLOAT, 0, 0.05, nullptr};
    items[2] = {sizeof(mc_param), "sym", MC_PARAM_BOOL, 1, 0.0, nullptr};
    const mc_params raw{sizeof(mc_params), 3, items};
    const mcomp::sdk::Params params(&raw);
    EXPECT_EQ(params.get_int("bits", 4), 3);
    EXPECT_DOUBLE_EQ(params.get_float("damp", 0.01), 0.05);
    EXPECT_TRUE(params.get_bool("sym", false));
    EXPECT_EQ(params.get_int("group_size", 128), 128);
    EXPECT_THROW(params.get_bool("bits", false), mcomp::sdk::Error);
}

TEST(Guard, EveryExceptionBecomesAStatus) {
    EXPECT_EQ(mcomp::sdk::guard(nullptr, "t", [] {}), MC_OK);
    EXPECT_EQ(mcomp::sdk::guard(nullptr, "t", [] { throw std::runtime_error("x"); }),
              MC_ERR_INTERNAL);
    EXPECT_EQ(mcomp::sdk::guard(nullptr, "t", [] { throw std::bad_alloc(); }),
              MC_ERR_OUT_OF_MEMORY);
    EXPECT_EQ(
        mcomp::sdk::guard(nullptr, "t", [] { throw mcomp::sdk::Error(MC_ERR_NUMERICAL, "nan"); }),
        MC_ERR_NUMERICAL);
    EXPECT_EQ(mcomp::sdk::guard(nullptr, "t", [] { throw 42; }), MC_ERR_INTERNAL);
}

TEST(Matrix, ChecksDtypeAndReadsConstViews) {
    float data[6] = {1, 2, 3, 4, 5, 6};
    mc_tensor_view v{};
    v.struct_size = sizeof(v);
    v.dtype = MC_DTYPE_F32;
    v.ndim = 2;
    v.shape[0] = 2;
    v.shape[1] = 3;
    v.strides[0] = 3;
    v.strides[1] = 1;
    v.data = data;
    const mcomp::sdk::Matrix<const float> m(v, "weight");
    EXPECT_EQ(m.rows(), 2);
    EXPECT_EQ(m.cols(), 3);
    EXPECT_EQ(m.at(1, 2), 6.0f);
    EXPECT_THROW(mcomp::sdk::Matrix<int32_t>(v, "weight"), mcomp::sdk::Error);
    const mcomp::sdk::Matrix<float> empty;
    EXPECT_EQ(empty.size(), 0);
}
