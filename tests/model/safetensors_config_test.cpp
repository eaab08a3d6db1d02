// safetensors reader/writer (round trip, every malformed input named) and ModernBertConfig (HF
// keys, presets, layer ids and types, HF JSON round trip).
#include <cstring>
#include <fstream>
#include <functional>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "greenknobs/model/config.h"
#include "greenknobs/model/safetensors.h"
#include "greenknobs/util/error.h"

#include "../common/errors.h"

using gk::InputError;
using namespace gk::model;

namespace {

using gk::testing::error_of;

// A header + data file built by hand so each test can break exactly one thing.
std::string file_with_header(const std::string& header, const std::string& data) {
    std::string out;
    uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
    }
    return out + header + data;
}

std::string parse_error(const std::string& header, const std::string& data) {
    return error_of([&] { SafetensorsFile(file_with_header(header, data), "bad.safetensors"); });
}

}  // namespace

TEST(Safetensors, RoundTripsEveryDtypeAndMetadata) {
    std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f};
    std::vector<uint16_t> bf16 = {0x3f80, 0xc000};  // 1.0, -2.0
    std::vector<uint16_t> f16 = {0x3c00};           // 1.0
    std::vector<int64_t> i64 = {-5, 1ll << 40};
    std::vector<int32_t> i32 = {7, -7, 9};
    std::vector<int8_t> i8 = {-128, 127};
    std::vector<uint8_t> u8 = {0, 255, 3};
    std::vector<StTensorView> views = {
        {"a.f32", StDtype::kF32, {2, 3}, f32.data(), f32.size() * 4},
        {"b.bf16", StDtype::kBF16, {2}, bf16.data(), 4},
        {"c.f16", StDtype::kF16, {1}, f16.data(), 2},
        {"d.i64", StDtype::kI64, {2}, i64.data(), 16},
        {"e.i32", StDtype::kI32, {3}, i32.data(), 12},
        {"f.i8", StDtype::kI8, {2}, i8.data(), 2},
        {"g.u8", StDtype::kU8, {3}, u8.data(), 3},
        {"h.scalar", StDtype::kF32, {}, f32.data(), 4},
    };
    std::string bytes = safetensors_bytes(views, {{"format", "pt"}});
    uint64_t header_len = 0;
    std::memcpy(&header_len, bytes.data(), 8);
    EXPECT_EQ((8 + header_len) % 8, 0u) << "data section must start 8-byte aligned";

    SafetensorsFile f(bytes, "mem");
    ASSERT_EQ(f.tensors().size(), views.size());
    EXPECT_EQ(f.metadata().at("format"), "pt");
    for (const auto& v : views) {
        const StTensorInfo* t = f.find(v.name);
        ASSERT_NE(t, nullptr) << v.name;
        EXPECT_EQ(t->dtype, v.dtype);
        EXPECT_EQ(t->shape, v.shape);
        ASSERT_EQ(t->end - t->begin, v.nbytes);
        EXPECT_EQ(std::memcmp(f.data(*t), v.data, v.nbytes), 0) << v.name;
    }
    EXPECT_EQ(f.find("nope"), nullptr);
}

TEST(Safetensors, ReadsTheBundledHfFile) {
    auto f = SafetensorsFile::read(std::string(GK_SOURCE_DIR) +
                                   "/data/tiny-modernbert-random/classifier/model.safetensors");
    const StTensorInfo* wi = f.find("model.layers.0.mlp.Wi.weight");
    ASSERT_NE(wi, nullptr);
    EXPECT_EQ(wi->dtype, StDtype::kF32);
    EXPECT_EQ(wi->shape, (std::vector<int64_t>{128, 32}));
    EXPECT_NE(f.find("classifier.bias"), nullptr);
}

TEST(Safetensors, TruncatedInputsAreNamed) {
    EXPECT_NE(error_of([] {
                  SafetensorsFile(std::string("\x10\0\0", 3), "t.safetensors");
              }).find("t.safetensors:header: truncated"),
              std::string::npos);
    // Header length larger than what follows.
    std::string f =
        file_with_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "abcd");
    std::string cut = f.substr(0, 20);
    EXPECT_NE(error_of([&] {
                  SafetensorsFile(cut, "t.safetensors");
              }).find("t.safetensors:header: truncated"),
              std::string::npos);
    // Header fine, data cut short.
    std::string short_data = f.substr(0, f.size() - 2);
    std::string e = error_of([&] { SafetensorsFile(short_data, "t.safetensors"); });
    EXPECT_NE(e.find("t.safetensors:w:"), std::string::npos) << e;
    EXPECT_NE(e.find("end beyond the data section"), std::string::npos) << e;
}

TEST(Safetensors, BadHeadersAreNamedByTensor) {
    EXPECT_NE(parse_error(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", "abcd")
                  .find("bad.safetensors:w: unknown dtype \"F33\""),
              std::string::npos);
    EXPECT_NE(parse_error(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", "abcd")
                  .find("bad.safetensors:w: shape x dtype size = 8 bytes"),
              std::string::npos);
    EXPECT_NE(
        parse_error(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", "abcd")
            .find("bad.safetensors:w: data_offsets [4, 8] end beyond the data section (4 bytes"),
        std::string::npos);
    std::string overlap = parse_error(
        R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
        "abcdefgh");
    EXPECT_NE(overlap.find("bad.safetensors:b: data overlaps"), std::string::npos) << overlap;
    std::string hole =
        parse_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", "abcd");
    EXPECT_NE(hole.find("bad.safetensors:a: a hole of 2 bytes"), std::string::npos) << hole;
    EXPECT_NE(parse_error(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "abcd")
                  .find("2 trailing bytes"),
              std::string::npos);
    EXPECT_NE(parse_error(R"({"a":{"dtype":"U8","shape":[2]}})", "ab")
                  .find("bad.safetensors:a: entry needs"),
              std::string::npos);
    EXPECT_NE(parse_error(R"({"a":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}})", "ab")
                  .find("bad.safetensors:a: shape entries"),
              std::string::npos);
    EXPECT_NE(parse_error("{not json}", "").find("bad.safetensors:header: invalid JSON"),
              std::string::npos);
}

TEST(ModernBertConfig, BasePresetEqualsTheBundledConfig) {
    ModernBertConfig file =
        load_config(std::string(GK_SOURCE_DIR) + "/data/modernbert/config.json");
    ModernBertConfig base = preset("base");
    EXPECT_EQ(file.architectures, std::vector<std::string>{"ModernBertModel"});
    file.architectures =
        base.architectures;  // the file is the bare encoder; everything else must agree
    EXPECT_EQ(to_hf_json(file), to_hf_json(base));
    EXPECT_EQ(base.hidden_size, 768);
    EXPECT_EQ(base.num_hidden_layers, 22);
    EXPECT_EQ(base.classifier_pooling, "mean");
}

TEST(ModernBertConfig, PresetsKeepTheArchitecture) {
    for (const auto& name : preset_names()) {
        ModernBertConfig c = preset(name);
        EXPECT_EQ(c.vocab_size, 50368) << name;
        EXPECT_EQ(c.pad_token_id, 50283) << name;
        EXPECT_EQ(c.local_attention, 128) << name;
        EXPECT_EQ(c.global_attn_every_n_layers, 3) << name;
        EXPECT_DOUBLE_EQ(c.global_rope_theta, 160000.0) << name;
        EXPECT_DOUBLE_EQ(c.local_rope_theta, 10000.0) << name;
    }
    ModernBertConfig small = preset("cpu-small");
    EXPECT_EQ(small.num_hidden_layers, 22);
    EXPECT_EQ(small.hidden_size, 64);
    EXPECT_EQ(small.num_attention_heads, 4);
    EXPECT_EQ(small.intermediate_size, 128);
    ModernBertConfig tiny = preset("cpu-tiny");
    EXPECT_EQ(tiny.num_hidden_layers, 22);
    EXPECT_EQ(tiny.hidden_size, 32);
    EXPECT_EQ(tiny.num_attention_heads, 2);
    ModernBertConfig test = preset("test-tiny");
    EXPECT_EQ(test.num_hidden_layers, 3);
    EXPECT_EQ(test.intermediate_size, 64);
    EXPECT_NE(error_of([] { preset("huge"); }).find("unknown preset"), std::string::npos);
}

TEST(ModernBertConfig, GlobalLayersFollowTheOriginalIds) {
    ModernBertConfig c = preset("cpu-tiny");
    for (int64_t i = 0; i < 22; ++i) {
        EXPECT_EQ(c.is_global_layer(i), i % 3 == 0) << i;
    }
    nlohmann::json j = to_hf_json(c);
    j["num_hidden_layers"] = 3;
    j["greenknobs_layer_ids"] = {4, 5, 6};
    j.erase("layer_types");
    ModernBertConfig pruned = config_from_json(j, "pruned.json");
    EXPECT_FALSE(pruned.is_global_layer(0));  // original 4
    EXPECT_FALSE(pruned.is_global_layer(1));  // original 5
    EXPECT_TRUE(pruned.is_global_layer(2));   // original 6
    EXPECT_EQ(to_hf_json(pruned)["layer_types"],
              nlohmann::json({"sliding_attention", "sliding_attention", "full_attention"}));
    j["greenknobs_layer_ids"] = {4, 5};
    EXPECT_NE(error_of([&] {
                  config_from_json(j, "pruned.json");
              }).find("pruned.json:greenknobs_layer_ids: has 2 ids but num_hidden_layers is 3"),
              std::string::npos);
}

TEST(ModernBertConfig, EditingAPresetKeepsDerivedLayerTypes) {
    ModernBertConfig c = preset("test-tiny");
    c.num_hidden_layers = 7;
    c.global_attn_every_n_layers = 2;
    c.finalize("edited");
    EXPECT_TRUE(c.is_global_layer(6));
    EXPECT_FALSE(c.is_global_layer(5));
    EXPECT_EQ(to_hf_json(c)["greenknobs_layer_ids"].size(), 7u);
}

TEST(ModernBertConfig, HfJsonRoundTripsAndReadsHfVariants) {
    ModernBertConfig c = preset("test-tiny");
    c.id2label = {{0, "safe"}, {1, "vulnerable"}};
    nlohmann::json j = to_hf_json(c);
    EXPECT_EQ(j["architectures"][0], "ModernBertForSequenceClassification");
    EXPECT_EQ(j["model_type"], "modernbert");
    EXPECT_EQ(j["label2id"]["vulnerable"], 1);
    ModernBertConfig back = config_from_json(j, "x.json");
    EXPECT_EQ(to_hf_json(back), j);

    // The bundled tiny config writes layer_norm_eps and derives num_labels from id2label.
    ModernBertConfig tiny = load_config(std::string(GK_SOURCE_DIR) +
                                        "/data/tiny-modernbert-random/classifier/config.json");
    EXPECT_EQ(tiny.num_labels, 2);
    EXPECT_EQ(tiny.id2label.at(1), "biology");
    EXPECT_EQ(tiny.classifier_pooling, "cls");
    EXPECT_EQ(tiny.local_attention, 64);
    EXPECT_TRUE(tiny.is_global_layer(0));

    // Newer HF puts the thetas under rope_parameters.
    nlohmann::json newer = {
        {"model_type", "modernbert"},
        {"vocab_size", 50368},
        {"hidden_size", 768},
        {"intermediate_size", 1152},
        {"num_hidden_layers", 22},
        {"num_attention_heads", 12},
        {"rope_parameters",
         {{"full_attention", {{"rope_theta", 1000.0}, {"rope_type", "default"}}},
          {"sliding_attention", {{"rope_theta", 50.0}, {"rope_type", "default"}}}}}};
    ModernBertConfig n = config_from_json(newer, "new.json");
    EXPECT_DOUBLE_EQ(n.global_rope_theta, 1000.0);
    EXPECT_DOUBLE_EQ(n.local_rope_theta, 50.0);
}

TEST(ModernBertConfig, BadValuesAreNamed) {
    nlohmann::json j = to_hf_json(preset("test-tiny"));
    j["hidden_size"] = "big";
    EXPECT_NE(error_of([&] {
                  config_from_json(j, "c.json");
              }).find("c.json:hidden_size: expected an integer"),
              std::string::npos);
    j = to_hf_json(preset("test-tiny"));
    j["num_attention_heads"] = 3;
    EXPECT_NE(error_of([&] {
                  config_from_json(j, "c.json");
              }).find("not a multiple of num_attention_heads"),
              std::string::npos);
    j = to_hf_json(preset("test-tiny"));
    j["classifier_pooling"] = "max";
    EXPECT_NE(error_of([&] { config_from_json(j, "c.json"); }).find("c.json:classifier_pooling"),
              std::string::npos);
    j = to_hf_json(preset("test-tiny"));
    j["model_type"] = "bert";
    EXPECT_NE(error_of([&] { config_from_json(j, "c.json"); }).find("c.json:model_type"),
              std::string::npos);
}
