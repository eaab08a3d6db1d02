// `greenknobs predict`: a saved model directory classifies JSON Lines, one output line per input line.
#include <istream>
#include <ostream>
#include <torch/torch.h>

#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/pipeline/pipeline.h"
#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"

namespace gk::pipeline {
namespace {

using nlohmann::json;

struct Item {
    std::vector<int64_t> ids;
    std::vector<int64_t> mask;
};

std::vector<int64_t> int_array(const json& j, const std::string& where, const char* key) {
    if (!j.contains(key) || !j[key].is_array()) {
        throw InputError(where, key, "expected an array of integers");
    }
    std::vector<int64_t> out;
    for (const auto& v : j[key]) {
        if (!v.is_number_integer()) {
            throw InputError(where, key, "expected an array of integers, found " + v.dump());
        }
        out.push_back(v.get<int64_t>());
    }
    return out;
}

void flush(model::ModernBertForSequenceClassification& m, std::vector<Item>& items, int64_t pad_id,
           const torch::Device& device, std::ostream& out) {
    if (items.empty()) {
        return;
    }
    int64_t len = 1;
    for (const auto& it : items) {
        len = std::max<int64_t>(len, static_cast<int64_t>(it.ids.size()));
    }
    const auto n = static_cast<int64_t>(items.size());
    auto ids = torch::full({n, len}, pad_id, torch::kInt64);
    auto mask = torch::zeros({n, len}, torch::kInt64);
    for (int64_t i = 0; i < n; ++i) {
        const auto& it = items[static_cast<size_t>(i)];
        for (size_t k = 0; k < it.ids.size(); ++k) {
            ids[i][static_cast<int64_t>(k)] = it.ids[k];
            mask[i][static_cast<int64_t>(k)] = it.mask[k];
        }
    }
    torch::Tensor logits;
    {
        torch::NoGradGuard no_grad;
        logits = m->forward(ids.to(device), mask.to(device)).to(torch::kCPU).to(torch::kFloat);
    }
    auto probs = torch::softmax(logits, 1);
    for (int64_t i = 0; i < n; ++i) {
        json o;
        o["logits"] = {logits[i][0].item<float>(), logits[i][1].item<float>()};
        o["label"] = logits[i][1].item<float>() > logits[i][0].item<float>() ? 1 : 0;
        o["p_vul"] = probs[i][1].item<float>();
        out << o.dump() << "\n";
    }
    items.clear();
}

}  // namespace

void predict_jsonl(const std::string& model_dir, std::istream& in, std::ostream& out, const std::string& device_name,
                   int max_length, int batch_size) {
    model::RuntimeInfo rt = model::init_runtime(device_name, 0);
    torch::Device device(rt.device);
    auto m = model::load_hf_checkpoint(model_dir);
    m->to(device);
    m->eval();
    const std::string tok_path = fs::join(model_dir, "tokenizer.json");
    std::unique_ptr<text::Tokenizer> tok;
    if (fs::exists(tok_path)) {
        tok = std::make_unique<text::Tokenizer>(text::Tokenizer::from_file(tok_path));
    }
    if (max_length <= 0) {
        max_length = 512;
        const std::string meta = fs::join(model_dir, "greenknobs.json");
        if (fs::exists(meta)) {
            json j = json::parse(fs::read_file(meta), nullptr, false);
            if (j.is_object() && j.contains("max_length") && j["max_length"].is_number_integer()) {
                max_length = j["max_length"].get<int>();
            }
        }
    }
    const int64_t pad_id = m->config().pad_token_id;
    std::vector<Item> items;
    std::string line;
    int64_t line_no = 0;
    while (std::getline(in, line)) {
        ++line_no;
        const std::string where = "<stdin>:" + std::to_string(line_no);
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (!j.is_object()) {
            throw InputError(where, "", "not a JSON object");
        }
        Item it;
        if (j.contains("text")) {
            if (!j["text"].is_string()) {
                throw InputError(where, "text", "expected a string");
            }
            if (!tok) {
                throw InputError(tok_path, "", "no tokenizer.json in the model directory: send input_ids");
            }
            auto enc = tok->encode(j["text"].get<std::string>(), true, max_length);
            it.ids.assign(enc.ids.begin(), enc.ids.end());
            it.mask.assign(it.ids.size(), 1);
        } else if (j.contains("input_ids")) {
            it.ids = int_array(j, where, "input_ids");
            it.mask = j.contains("attention_mask") ? int_array(j, where, "attention_mask")
                                                   : std::vector<int64_t>(it.ids.size(), 1);
            if (it.mask.size() != it.ids.size()) {
                throw InputError(where, "attention_mask", "length differs from input_ids");
            }
            for (auto id : it.ids) {
                if (id < 0 || id >= m->config().vocab_size) {
                    throw InputError(where, "input_ids",
                                     "id " + std::to_string(id) + " outside the vocabulary [0, " +
                                         std::to_string(m->config().vocab_size) + ")");
                }
            }
        } else {
            throw InputError(where, "", "expected {\"text\": ...} or {\"input_ids\": [...]}");
        }
        if (it.ids.empty()) {
            throw InputError(where, "input_ids", "empty sequence");
        }
        items.push_back(std::move(it));
        if (static_cast<int>(items.size()) >= batch_size) {
            flush(m, items, pad_id, device, out);
        }
    }
    flush(m, items, pad_id, device, out);
}

}  // namespace gk::pipeline
