// `greenknobs predict`: a saved model directory answers JSON Lines, one output line per input line:
// a classifier classifies, a masked LM fills [MASK] positions (the head comes from config.json).
#include <istream>
#include <ostream>

#include <torch/torch.h>

#include "greenknobs/model/checkpoint_io.h"
#include "greenknobs/model/masked_lm.h"
#include "greenknobs/model/modernbert.h"
#include "greenknobs/model/runtime.h"
#include "greenknobs/pipeline/pipeline.h"
#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/json_strict.h"

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

// Right-padded [n, len] ids and mask of a batch.
std::pair<torch::Tensor, torch::Tensor> pad_batch(const std::vector<Item>& items, int64_t pad_id) {
    int64_t len = 1;
    for (const auto& it : items) {
        len = std::max<int64_t>(len, static_cast<int64_t>(it.ids.size()));
    }
    const auto n = static_cast<int64_t>(items.size());
    auto ids = torch::full({n, len}, pad_id, torch::kInt64);
    auto mask = torch::zeros({n, len}, torch::kInt64);
    for (int64_t i = 0; i < n; ++i) {
        const auto& it = items[static_cast<size_t>(i)];
        const auto k = static_cast<int64_t>(it.ids.size());
        ids[i].narrow(0, 0, k).copy_(torch::tensor(it.ids, torch::kInt64));
        mask[i].narrow(0, 0, k).copy_(torch::tensor(it.mask, torch::kInt64));
    }
    return {ids, mask};
}

// The classifier's answer for a batch.
void classify(model::ModernBertForSequenceClassification& m, const std::vector<Item>& items,
              int64_t pad_id, const torch::Device& device, std::ostream& out) {
    auto [ids, mask] = pad_batch(items, pad_id);
    torch::Tensor logits;
    {
        torch::NoGradGuard no_grad;
        logits = m->forward(ids.to(device), mask.to(device)).to(torch::kCPU).to(torch::kFloat);
    }
    auto probs = torch::softmax(logits, 1);
    for (int64_t i = 0; i < logits.size(0); ++i) {
        json o;
        o["logits"] = {logits[i][0].item<float>(), logits[i][1].item<float>()};
        o["label"] = logits[i][1].item<float>() > logits[i][0].item<float>() ? 1 : 0;
        o["p_vul"] = probs[i][1].item<float>();
        out << o.dump() << "\n";
    }
}

// Fill-mask for a batch: top-k ids and logits at every real [MASK] position, in position order.
void fill_mask(model::ModernBertForMaskedLM& m, const std::vector<Item>& items, int64_t pad_id,
               int64_t mask_id, int top_k, const torch::Device& device, std::ostream& out) {
    auto [ids, mask] = pad_batch(items, pad_id);
    torch::Tensor select = ids.eq(mask_id).logical_and(mask.eq(1));  // [n, len]
    torch::Tensor values, indices;
    if (select.any().item<bool>()) {
        torch::NoGradGuard no_grad;
        torch::Tensor logits =
            m->forward_at(ids.to(device), mask.to(device), select.to(device)).to(torch::kCPU);
        const int64_t k = std::min<int64_t>(top_k, logits.size(-1));
        std::tie(values, indices) = logits.topk(k, /*dim=*/-1);  // [N, k], sorted
    }
    int64_t row = 0;  // row in the selected logits (row-major over [n, len])
    auto sel = select.accessor<bool, 2>();
    for (int64_t i = 0; i < ids.size(0); ++i) {
        json masks = json::array();
        for (int64_t p = 0; p < ids.size(1); ++p) {
            if (!sel[i][p]) {
                continue;
            }
            json e;
            e["position"] = p;
            std::vector<int64_t> top_ids(indices[row].data_ptr<int64_t>(),
                                         indices[row].data_ptr<int64_t>() + indices.size(1));
            std::vector<float> top_logits(values[row].data_ptr<float>(),
                                          values[row].data_ptr<float>() + values.size(1));
            e["ids"] = top_ids;
            e["logits"] = top_logits;
            masks.push_back(e);
            ++row;
        }
        out << json{{"masks", masks}}.dump() << "\n";
    }
}

int64_t meta_int(const std::string& model_dir, const char* key, int64_t fallback) {
    const std::string meta = fs::join(model_dir, "greenknobs.json");
    if (fs::exists(meta)) {
        json j = json::parse(fs::read_file(meta), nullptr, false);
        if (j.is_object() && j.contains(key) && j[key].is_number_integer()) {
            return j[key].get<int64_t>();
        }
    }
    return fallback;
}

// The tokenizer's ids index the model's embedding: one that yields ids past config.json's
// vocab_size belongs to another model (LibTorch would stop mid-batch with "index out of range"). A
// tokenizer with fewer ids than the embedding has rows is fine (ModernBERT pads its vocabulary to
// 50368).
void check_tokenizer_fits(const text::Tokenizer& tok, const model::ModernBertConfig& config,
                          const std::string& tok_path, const std::string& config_path) {
    if (tok.vocab_size() <= config.vocab_size) {
        return;
    }
    const auto last = static_cast<int32_t>(tok.vocab_size() - 1);
    throw InputError(tok_path, "",
                     "yields token ids up to " + std::to_string(last) + " (\"" +
                         tok.id_to_token(last) + "\") but " + config_path + " has vocab_size " +
                         std::to_string(config.vocab_size) +
                         ": this tokenizer.json does not belong to the model");
}

}  // namespace

void predict_jsonl(const std::string& model_dir, std::istream& in, std::ostream& out,
                   const PredictOptions& opt) {
    const std::string arch = model::checkpoint_architecture(model_dir);
    if (arch == "ModernBertModel") {
        throw InputError(fs::join(model_dir, "config.json"), "architectures",
                         "a bare ModernBertModel has no head to predict with (expected "
                         "ModernBertForSequenceClassification or ModernBertForMaskedLM)");
    }
    if (opt.top_k <= 0) {
        throw InputError("--top-k", std::to_string(opt.top_k), "must be >= 1");
    }
    const bool mlm = arch == "ModernBertForMaskedLM";
    model::RuntimeInfo rt = model::init_runtime(opt.device, 0);
    torch::Device device(rt.device);
    model::ModernBertForSequenceClassification cls{nullptr};
    model::ModernBertForMaskedLM lm{nullptr};
    model::ModernBertConfig config;
    if (mlm) {
        lm = model::load_hf_masked_lm(model_dir);
        lm->to(device);
        lm->eval();
        config = lm->config();
    } else {
        cls = model::load_hf_checkpoint(model_dir);
        cls->to(device);
        cls->eval();
        config = cls->config();
    }

    // The tokenizer is parsed only when a line needs text encoded (input_ids need none).
    const std::string tok_path = fs::join(model_dir, "tokenizer.json");
    const std::string config_path = fs::join(model_dir, "config.json");
    const std::string meta_path = fs::join(model_dir, "greenknobs.json");
    // The [MASK] id and where it came from: --mask-id, greenknobs.json, else tokenizer.json.
    int64_t mask_id = opt.mask_id >= 0 ? opt.mask_id : meta_int(model_dir, "mask_token_id", -1);
    const std::string mask_source = opt.mask_id >= 0 ? "--mask-id"
                                    : mask_id >= 0   ? meta_path + ":mask_token_id"
                                                     : tok_path;
    std::unique_ptr<text::Tokenizer> tok;
    auto tokenizer = [&]() -> const text::Tokenizer& {
        if (!tok) {
            if (!fs::exists(tok_path)) {
                throw InputError(tok_path, "",
                                 "no tokenizer.json in the model directory: send input_ids");
            }
            tok = std::make_unique<text::Tokenizer>(text::Tokenizer::from_file(tok_path));
            check_tokenizer_fits(*tok, config, tok_path, config_path);
            // Text's [MASK]s encode to the tokenizer's id: another id would select no position.
            if (mlm && mask_id >= 0 && tok->mask_id() >= 0 && tok->mask_id() != mask_id) {
                throw InputError(mask_source, "",
                                 "[MASK] id " + std::to_string(mask_id) + " but " + tok_path +
                                     " encodes [MASK] as " + std::to_string(tok->mask_id()) +
                                     ": the model and its tokenizer disagree");
            }
        }
        return *tok;
    };
    auto resolve_mask_id = [&]() {
        if (mask_id < 0) {
            mask_id = tokenizer().mask_id();
            if (mask_id < 0) {
                throw InputError(tok_path, "added_tokens",
                                 "no [MASK] token: pass --mask-id for a masked-LM model");
            }
        }
        if (mask_id >= config.vocab_size) {
            throw InputError(mask_source, "",
                             "[MASK] id " + std::to_string(mask_id) + " is not below " +
                                 config_path + "'s vocab_size " +
                                 std::to_string(config.vocab_size));
        }
        return mask_id;
    };
    const int max_length = opt.max_length > 0
                               ? opt.max_length
                               : static_cast<int>(meta_int(model_dir, "max_length", 512));

    const int64_t pad_id = config.pad_token_id;
    std::vector<Item> items;
    auto flush = [&]() {
        if (items.empty()) {
            return;
        }
        if (mlm) {
            fill_mask(lm, items, pad_id, resolve_mask_id(), opt.top_k, device, out);
        } else {
            classify(cls, items, pad_id, device, out);
        }
        items.clear();
    };
    std::string line;
    int64_t line_no = 0;
    size_t offset = 0;  // of the line in the input, for the UTF-8 message
    while (std::getline(in, line)) {
        ++line_no;
        const size_t line_offset = offset;
        offset += line.size() + 1;
        const std::string where = "<stdin>:" + std::to_string(line_no);
        if (line.find_first_not_of(" \t\r") == std::string::npos) {
            continue;
        }
        // Strict: duplicate keys, bytes that are not UTF-8 and trailing bytes are errors naming the
        // line.
        const json j = parse_json_strict(line, "<stdin>", std::to_string(line_no), line_offset);
        if (!j.is_object()) {
            throw InputError(where, "", "not a JSON object");
        }
        Item it;
        if (j.contains("text")) {
            if (!j["text"].is_string()) {
                throw InputError(where, "text", "expected a string");
            }
            auto enc = tokenizer().encode(j["text"].get<std::string>(), true, max_length);
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
                if (id < 0 || id >= config.vocab_size) {
                    throw InputError(where, "input_ids",
                                     "id " + std::to_string(id) + " outside the vocabulary [0, " +
                                         std::to_string(config.vocab_size) + ")");
                }
            }
            for (auto v : it.mask) {
                if (v != 0 && v != 1) {
                    throw InputError(where, "attention_mask",
                                     "expected 0 or 1, found " + std::to_string(v));
                }
            }
        } else {
            throw InputError(where, "", "expected {\"text\": ...} or {\"input_ids\": [...]}");
        }
        if (it.ids.empty()) {
            throw InputError(where, "input_ids", "empty sequence");
        }
        items.push_back(std::move(it));
        if (static_cast<int>(items.size()) >= opt.batch_size) {
            flush();
        }
    }
    flush();
}

}  // namespace gk::pipeline
