// Regression tests of issue #12 for the model files (docs/input-rules.md): safetensors headers
// (charset, padding, names, offsets, overflow-safe shapes) and config.json (model_type and the
// shape keys required, strict JSON, sizes bounded before allocation).
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/model/config.h"
#include "greenknobs/model/safetensors.h"
#include "greenknobs/util/error.h"

#include "../common/errors.h"
#include "../common/temp_dir.h"

using gk::testing::error_of;
using namespace gk::model;

namespace {

std::string file_with_header(const std::string& header, const std::string& data) {
    std::string out;
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    return out + header + data;
}

std::string st_error(const std::string& header, const std::string& data = "") {
    return error_of([&] { SafetensorsFile(file_with_header(header, data), "m.safetensors"); });
}

std::string write_tmp(const std::string& name, const std::string& bytes) {
    static const gk::testing::TempDir root("model_input");
    std::string path = root / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

nlohmann::json tiny() { return to_hf_json(preset("test-tiny")); }

std::string config_error(const nlohmann::json& j) {
    return error_of([&] { config_from_json(j, "c.json"); });
}

}  // namespace

TEST(SafetensorsRules, ShapeProductOverflowIsCaught) {
    // 2^32 x 2^32 wraps to 0 in 64 bits; 2^62 x 4 bytes wraps to 0 too.
    EXPECT_EQ(
        st_error(R"({"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
        "m.safetensors:a: shape x dtype size exceeds the 0-byte data section (data_offsets "
        "span 0)");
    EXPECT_NE(
        st_error(R"({"a":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})")
            .find("exceeds the 0-byte data section"),
        std::string::npos);
    // Wrapping onto the stored byte count: 2^63 + 2 elements x 2 bytes = 4 (mod 2^64).
    EXPECT_NE(
        st_error(R"({"a":{"dtype":"F16","shape":[9223372036854775810],"data_offsets":[0,4]}})",
                 "abcd")
            .find("m.safetensors:a: shape entry"),
        std::string::npos);
    // An empty tensor may have any other dimension.
    SafetensorsFile ok(
        file_with_header(
            R"({"e":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})", ""),
        "m.safetensors");
    EXPECT_EQ(ok.tensors().at(0).numel(), 0);
}

TEST(SafetensorsRules, HeaderCharsetAndPaddingFollowTheFormat) {
    const std::string t = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
    EXPECT_NO_THROW(SafetensorsFile(file_with_header(t + "   ", "x"), "m.safetensors"));
    EXPECT_EQ(
        st_error(t + std::string(3, '\0'), "x"),
        "m.safetensors:header: padded with NUL bytes (the format allows trailing spaces only)");
    EXPECT_EQ(st_error(t + "\n", "x"),
              "m.safetensors:header: does not end with '}' (trailing padding may only be spaces)");
    EXPECT_EQ(st_error("\xEF\xBB\xBF" + t, "x"),
              "m.safetensors:header: starts with a UTF-8 byte order mark (the format wants a JSON "
              "object first)");
    EXPECT_EQ(st_error(" " + t, "x"),
              "m.safetensors:header: does not start with '{' (the format wants a JSON object "
              "first)");
    EXPECT_EQ(st_error(R"({"a\u00e9":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "x"), "");
    EXPECT_NE(st_error("{\"\xE9\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "x")
                  .find("m.safetensors:header: not valid UTF-8: byte 0xE9 at byte offset 10"),
              std::string::npos);
}

TEST(SafetensorsRules, DuplicateNamesAndReversedOffsetsAreNamedAsSuch) {
    EXPECT_NE(st_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                       R"("a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                       "xy")
                  .find("m.safetensors:header: duplicate key 'a'"),
              std::string::npos);
    EXPECT_EQ(st_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[8,4]}})", "12345678"),
              "m.safetensors:a: data_offsets [8, 4] are reversed (begin after end)");
    EXPECT_NE(st_error(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "12")
                  .find("end beyond the data section (2 bytes; file truncated?)"),
              std::string::npos);
}

TEST(ConfigRules, ModelTypeAndShapeKeysAreRequired) {
    auto j = tiny();
    j.erase("model_type");
    EXPECT_EQ(config_error(j).rfind("c.json:model_type: missing", 0), 0u) << config_error(j);
    for (const char* key : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                            "num_attention_heads"}) {
        j = tiny();
        j.erase(key);
        EXPECT_EQ(config_error(j).rfind(std::string("c.json:") + key + ": missing (required", 0),
                  0u)
            << config_error(j);
    }
    // The rest default as in HF (documented): a config with just the shapes loads.
    nlohmann::json minimal = {{"model_type", "modernbert"}, {"vocab_size", 256},
                              {"hidden_size", 32},          {"intermediate_size", 64},
                              {"num_hidden_layers", 1},     {"num_attention_heads", 2},
                              {"pad_token_id", 0}};
    EXPECT_EQ(config_error(minimal), "");
}

TEST(ConfigRules, AbsurdSizesAreBoundedBeforeAllocation) {
    auto j = tiny();
    j["hidden_size"] = 4294967296LL;
    const std::string msg = config_error(j);
    EXPECT_EQ(msg.rfind("c.json:hidden_size: model too large for this machine: its fp32 weights "
                        "alone need ",
                        0),
              0u)
        << msg;
    EXPECT_NE(msg.find(" bytes ("), std::string::npos) << msg;
    j = tiny();
    j.erase("layer_types");
    j.erase("greenknobs_layer_ids");
    j["num_hidden_layers"] = 1000000000000LL;
    EXPECT_NE(config_error(j).find("model too large for this machine"), std::string::npos);
    j = tiny();
    j["hidden_size"] = 1e300;  // a float that is no integer of any size
    EXPECT_EQ(config_error(j), "c.json:hidden_size: expected an integer, got 1e+300");
}

TEST(ConfigRules, LabelIdsMustBeInRange) {
    auto j = tiny();
    j["id2label"] = {{"0", "safe"}, {"7", "vulnerable"}};
    EXPECT_EQ(config_error(j), "c.json:id2label: label id 7 is not in 0..1");
}

TEST(ConfigRules, FilesAreStrictJson) {
    std::string path = write_tmp("dup.json", R"({"model_type":"modernbert","hidden_size":32,)"
                                             R"("vocab_size":256,"hidden_size":64})");
    EXPECT_EQ(error_of([&] { load_config(path); }),
              path +
                  ":hidden_size: duplicate key 'hidden_size' (the later value would silently "
                  "replace the earlier one)");
    path = write_tmp("bad8.json", "{\"model_type\":\"modernbert\",\"x\":\"\xFF\"}");
    EXPECT_NE(
        error_of([&] { load_config(path); }).find("not valid UTF-8: byte 0xFF at byte offset 32"),
        std::string::npos);
}
