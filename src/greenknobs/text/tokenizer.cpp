// tokenizer.json parsing (strict: every field we rely on is checked and named in errors), the
// encode pipeline, truncation + post-processing, a chunked thread pool for batches, and byte-level
// decoding.
#include "greenknobs/text/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "greenknobs/text/pre_tokenizer.h"
#include "greenknobs/text/unicode.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/hash.h"
#include "greenknobs/util/json_strict.h"

namespace gk::text {
namespace {

using nlohmann::json;

constexpr uint8_t kKindUnused = 0;
constexpr uint8_t kKindVocab = 1;
constexpr uint8_t kKindAdded = 2;
constexpr uint8_t kKindAddedSpecial = 3;
// Largest token id accepted: 16x the largest real vocabularies, small enough that the id tables of
// a hostile file stay a few hundred MB at most.
constexpr int64_t kMaxTokenId = (int64_t{1} << 22) - 1;

// Field access that names the JSON path of whatever is wrong.
class Reader {
  public:
    explicit Reader(std::string file) : file_(std::move(file)) {}

    [[noreturn]] void fail(const std::string& path, const std::string& what) const {
        throw InputError(file_, path, what);
    }
    const json& require(const json& obj, const std::string& key, const std::string& path) const {
        if (!obj.is_object()) {
            fail(path, "expected a JSON object");
        }
        auto it = obj.find(key);
        if (it == obj.end()) {
            fail(join(path, key), "missing field");
        }
        return *it;
    }
    std::string string_at(const json& obj, const std::string& key, const std::string& path) const {
        const json& v = require(obj, key, path);
        if (!v.is_string()) {
            fail(join(path, key), "expected a string, got " + std::string(v.type_name()));
        }
        return v.get<std::string>();
    }
    int32_t id_at(const json& obj, const std::string& key, const std::string& path) const {
        const json& v = require(obj, key, path);
        if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX) {
            fail(join(path, key), "expected a non-negative integer id, got " + v.dump());
        }
        return static_cast<int32_t>(v.get<int64_t>());
    }
    // An optional boolean (absent or null → fallback).
    bool flag_at(const json& obj, const std::string& key, const std::string& path,
                 bool fallback) const {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null()) {
            return fallback;
        }
        if (!it->is_boolean()) {
            fail(join(path, key), "expected true or false, got " + it->dump());
        }
        return it->get<bool>();
    }
    static std::string join(const std::string& path, const std::string& key) {
        return path.empty() ? key : path + "." + key;
    }

  private:
    std::string file_;
};

// The post-processor's single-sequence template: ids before and after sequence A.
void read_post_processor(const Reader& r, const json& root, std::vector<int32_t>* prefix,
                         std::vector<int32_t>* suffix) {
    auto it = root.find("post_processor");
    if (it == root.end() || it->is_null()) {
        return;
    }
    const json& pp = *it;
    std::string type = r.string_at(pp, "type", "post_processor");
    if (type == "ByteLevel") {
        return;  // only adjusts offsets; ids are unchanged
    }
    if (type != "TemplateProcessing") {
        r.fail("post_processor.type", "unsupported post-processor \"" + type +
                                          "\" (supported: TemplateProcessing, ByteLevel)");
    }
    const json& single = r.require(pp, "single", "post_processor");
    const json& specials = r.require(pp, "special_tokens", "post_processor");
    if (!single.is_array()) {
        r.fail("post_processor.single", "expected an array");
    }
    bool seen_sequence = false;
    for (size_t i = 0; i < single.size(); ++i) {
        std::string path = "post_processor.single[" + std::to_string(i) + "]";
        const json& piece = single[i];
        if (piece.is_object() && piece.contains("Sequence")) {
            if (seen_sequence) {
                r.fail(path, "more than one Sequence in the single template");
            }
            seen_sequence = true;
            continue;
        }
        if (!piece.is_object() || !piece.contains("SpecialToken")) {
            r.fail(path, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
        std::string name = r.string_at(piece["SpecialToken"], "id", path + ".SpecialToken");
        std::string spath = "post_processor.special_tokens." + name;
        const json& special = r.require(specials, name, "post_processor.special_tokens");
        const json& ids = r.require(special, "ids", spath);
        if (!ids.is_array()) {
            r.fail(spath + ".ids", "expected an array of ids");
        }
        for (const json& id : ids) {
            if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
                r.fail(spath + ".ids", "expected non-negative integer ids, got " + id.dump());
            }
            (seen_sequence ? suffix : prefix)->push_back(static_cast<int32_t>(id.get<int64_t>()));
        }
    }
    if (!seen_sequence) {
        r.fail("post_processor.single", "the template has no Sequence");
    }
}

}  // namespace

Tokenizer Tokenizer::from_file(const std::string& path) {
    return from_json(fs::read_file(path), path);
}

Tokenizer Tokenizer::from_json(const std::string& json_bytes, const std::string& name) {
    Reader r(name);
    // UTF-8, no byte order mark, no duplicate keys (a repeated vocab entry would silently win).
    json root = parse_json_strict(json_bytes, name);
    if (!root.is_object()) {
        r.fail("", "expected a JSON object at the top level");
    }
    Tokenizer tok;
    tok.name_ = name;
    tok.fingerprint_ = sha256_hex(json_bytes);

    // normalizer: none or NFC.
    auto norm = root.find("normalizer");
    if (norm != root.end() && !norm->is_null()) {
        std::string type = r.string_at(*norm, "type", "normalizer");
        if (type != "NFC") {
            r.fail("normalizer.type",
                   "unsupported normalizer \"" + type + "\" (supported: NFC or null)");
        }
        tok.nfc_ = true;
    }

    // pre_tokenizer: ByteLevel.
    const json& pre = r.require(root, "pre_tokenizer", "");
    if (pre.is_null()) {
        r.fail("pre_tokenizer", "a byte-level BPE needs the ByteLevel pre-tokenizer, got null");
    }
    std::string pre_type = r.string_at(pre, "type", "pre_tokenizer");
    if (pre_type != "ByteLevel") {
        r.fail("pre_tokenizer.type",
               "unsupported pre-tokenizer \"" + pre_type + "\" (supported: ByteLevel)");
    }
    tok.add_prefix_space_ = r.flag_at(pre, "add_prefix_space", "pre_tokenizer", true);
    tok.use_regex_ = r.flag_at(pre, "use_regex", "pre_tokenizer", true);

    // model: BPE with plain byte-level options.
    const json& model = r.require(root, "model", "");
    std::string model_type = r.string_at(model, "type", "model");
    if (model_type != "BPE") {
        r.fail("model.type", "unsupported model type \"" + model_type + "\" (supported: BPE)");
    }
    auto dropout = model.find("dropout");
    if (dropout != model.end() && !dropout->is_null() &&
        !(dropout->is_number() && dropout->get<double>() == 0.0)) {
        r.fail("model.dropout",
               "BPE dropout is not supported (it makes encoding random), got " + dropout->dump());
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        auto it = model.find(key);
        if (it != model.end() && !it->is_null() &&
            !(it->is_string() && it->get<std::string>().empty())) {
            r.fail(std::string("model.") + key,
                   "not supported by byte-level BPE, got " + it->dump());
        }
    }
    if (r.flag_at(model, "byte_fallback", "model", false)) {
        r.fail("model.byte_fallback", "byte_fallback is not supported");
    }
    bool ignore_merges = r.flag_at(model, "ignore_merges", "model", false);

    const json& vocab_json = r.require(model, "vocab", "model");
    if (!vocab_json.is_object()) {
        r.fail("model.vocab", "expected an object token → id");
    }
    // Ids are unique and below kMaxTokenId (holes are allowed, as in HF): this bounds the id tables
    // before they are allocated.
    const json* added_json = nullptr;
    if (auto a = root.find("added_tokens"); a != root.end() && !a->is_null()) {
        if (!a->is_array()) {
            r.fail("added_tokens", "expected an array");
        }
        added_json = &*a;
    }
    auto check_range = [&](int64_t id, const std::string& path) {
        if (id > kMaxTokenId) {
            r.fail(path, "id " + std::to_string(id) + " is out of range (at most " +
                             std::to_string(kMaxTokenId) +
                             "; the largest real vocabularies have about 256,000 tokens)");
        }
    };
    std::unordered_map<std::string, int32_t> vocab;
    vocab.reserve(vocab_json.size());
    std::unordered_map<int32_t, const std::string*> vocab_by_id;
    vocab_by_id.reserve(vocab_json.size());
    int64_t max_id = -1;
    for (auto it = vocab_json.begin(); it != vocab_json.end(); ++it) {
        if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 ||
            it.value().get<int64_t>() > INT32_MAX) {
            r.fail("model.vocab." + it.key(),
                   "expected a non-negative integer id, got " + it.value().dump());
        }
        check_range(it.value().get<int64_t>(), "model.vocab." + it.key());
        auto id = static_cast<int32_t>(it.value().get<int64_t>());
        if (auto d = vocab_by_id.find(id); d != vocab_by_id.end()) {
            r.fail("model.vocab." + it.key(), "id " + std::to_string(id) + " is also the id of \"" +
                                                  *d->second + "\" (ids must be unique)");
        }
        vocab_by_id.emplace(id, &it.key());
        vocab.emplace(it.key(), id);
        max_id = std::max<int64_t>(max_id, id);
    }
    // Byte-level BPE must be able to spell every byte that UTF-8 text can hold (all but C0, C1 and
    // F5..FF; input is made valid UTF-8 first); a missing one would be dropped silently.
    for (int b = 0; b < 256; ++b) {
        if (b == 0xC0 || b == 0xC1 || b >= 0xF5) {
            continue;
        }
        const char c = static_cast<char>(b);
        const std::string spelling = byte_level_spelling(&c, 1);
        if (vocab.count(spelling) == 0) {
            char hex[8];
            std::snprintf(hex, sizeof hex, "0x%02X", b);
            r.fail("model.vocab", std::string("the byte-level alphabet is incomplete: no token for "
                                              "byte ") +
                                      hex + " (spelled \"" + spelling +
                                      "\"); its bytes would be dropped from every encoding");
        }
    }

    const json& merges_json = r.require(model, "merges", "model");
    if (!merges_json.is_array()) {
        r.fail("model.merges", "expected an array");
    }
    std::vector<std::pair<std::string, std::string>> merges;
    merges.reserve(merges_json.size());
    for (size_t i = 0; i < merges_json.size(); ++i) {
        const json& m = merges_json[i];
        std::string path = "model.merges[" + std::to_string(i) + "]";
        if (m.is_string()) {
            // Legacy "a b" form; tokens never contain a plain space (it is spelled 'Ġ').
            const std::string& s = m.get_ref<const std::string&>();
            size_t sp = s.find(' ');
            if (sp == std::string::npos || sp == 0 || sp + 1 == s.size() ||
                s.find(' ', sp + 1) != std::string::npos) {
                r.fail(path, "expected \"left right\", got " + m.dump());
            }
            merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            r.fail(path, "expected \"left right\" or [\"left\", \"right\"], got " + m.dump());
        }
    }
    tok.bpe_ = std::make_unique<Bpe>(vocab, merges, ignore_merges, name);

    // added_tokens.
    std::vector<AddedToken> added;
    std::unordered_map<int32_t, size_t> added_by_id;        // id -> index in `added`
    std::unordered_map<std::string, size_t> added_by_text;  // content -> index in `added`
    if (added_json != nullptr) {
        for (size_t i = 0; i < added_json->size(); ++i) {
            const json& a = (*added_json)[i];
            std::string path = "added_tokens[" + std::to_string(i) + "]";
            AddedToken t;
            t.id = r.id_at(a, "id", path);
            t.content = r.string_at(a, "content", path);
            t.single_word = r.flag_at(a, "single_word", path, false);
            t.lstrip = r.flag_at(a, "lstrip", path, false);
            t.rstrip = r.flag_at(a, "rstrip", path, false);
            t.special = r.flag_at(a, "special", path, false);
            t.normalized = r.flag_at(a, "normalized", path, !t.special);
            if (!unicode::is_ascii(t.content) && unicode::to_valid_utf8(t.content) != t.content) {
                r.fail(path + ".content", "not valid UTF-8");
            }
            if (t.content.empty()) {
                r.fail(path + ".content", "an added token cannot be empty");
            }
            check_range(t.id, path + ".id");
            // HF lists vocab tokens again as added tokens (same id, same content); anything else
            // makes one id or one text mean two things.
            if (auto d = added_by_id.find(t.id); d != added_by_id.end()) {
                r.fail(path + ".id", "id " + std::to_string(t.id) + " is also the id of " +
                                         "added_tokens[" + std::to_string(d->second) + "]");
            }
            if (auto d = added_by_text.find(t.content); d != added_by_text.end()) {
                r.fail(path + ".content", "\"" + t.content +
                                              "\" is also the content of added_tokens[" +
                                              std::to_string(d->second) + "]");
            }
            if (auto v = vocab_by_id.find(t.id);
                v != vocab_by_id.end() && *v->second != t.content) {
                r.fail(path + ".id", "id " + std::to_string(t.id) + " is the vocab's \"" +
                                         *v->second + "\", not \"" + t.content + "\"");
            }
            if (auto v = vocab.find(t.content); v != vocab.end() && v->second != t.id) {
                r.fail(path + ".content", "\"" + t.content + "\" is in model.vocab with id " +
                                              std::to_string(v->second) + ", not " +
                                              std::to_string(t.id));
            }
            added_by_id.emplace(t.id, added.size());
            added_by_text.emplace(t.content, added.size());
            max_id = std::max<int64_t>(max_id, t.id);
            added.push_back(std::move(t));
        }
    }
    std::vector<AddedToken> raw_tokens;
    std::vector<std::string> raw_patterns;
    std::vector<AddedToken> norm_tokens;
    std::vector<std::string> norm_patterns;
    // HF matches special tokens first in its trie order; with leftmost-longest matching only
    // identical patterns could tie, so list specials first too.
    for (int pass = 0; pass < 2; ++pass) {
        for (const AddedToken& t : added) {
            if (t.special != (pass == 0)) {
                continue;
            }
            if (t.normalized) {
                norm_tokens.push_back(t);
                norm_patterns.push_back(tok.nfc_ ? unicode::nfc(t.content) : t.content);
            } else {
                raw_tokens.push_back(t);
                raw_patterns.push_back(t.content);
            }
        }
    }
    tok.raw_matcher_.build(raw_tokens, raw_patterns);
    tok.normalized_matcher_.build(norm_tokens, norm_patterns);

    read_post_processor(r, root, &tok.prefix_ids_, &tok.suffix_ids_);

    // Id tables (bounded by kMaxTokenId above).
    tok.vocab_size_ = max_id + 1;
    tok.id_to_token_.assign(static_cast<size_t>(tok.vocab_size_), std::string());
    tok.id_kind_.assign(static_cast<size_t>(tok.vocab_size_), kKindUnused);
    tok.token_ids_.reserve(vocab.size() + added.size());
    for (const auto& [spelling, id] : vocab) {
        tok.id_to_token_[static_cast<size_t>(id)] = spelling;
        tok.id_kind_[static_cast<size_t>(id)] = kKindVocab;
        tok.token_ids_[spelling] = id;
    }
    for (const AddedToken& t : added) {
        tok.id_to_token_[static_cast<size_t>(t.id)] = t.content;
        tok.id_kind_[static_cast<size_t>(t.id)] = t.special ? kKindAddedSpecial : kKindAdded;
        tok.token_ids_[t.content] = t.id;
    }
    auto unused = [&](int32_t id) {
        return id >= tok.vocab_size_ || tok.id_kind_[static_cast<size_t>(id)] == kKindUnused;
    };
    for (int32_t id : tok.prefix_ids_) {
        if (unused(id)) {
            r.fail("post_processor.special_tokens",
                   "id " + std::to_string(id) + " is not in the vocabulary");
        }
    }
    for (int32_t id : tok.suffix_ids_) {
        if (unused(id)) {
            r.fail("post_processor.special_tokens",
                   "id " + std::to_string(id) + " is not in the vocabulary");
        }
    }
    auto first_of = [&](std::initializer_list<const char*> names) {
        for (const char* n : names) {
            int32_t id = tok.token_to_id(n);
            if (id >= 0) {
                return id;
            }
        }
        return -1;
    };
    tok.pad_id_ = first_of({"[PAD]", "<pad>", "<|padding|>"});
    tok.cls_id_ = first_of({"[CLS]", "<s>"});
    tok.sep_id_ = first_of({"[SEP]", "</s>"});
    tok.mask_id_ = first_of({"[MASK]", "<mask>"});
    if (tok.cls_id_ < 0 && !tok.prefix_ids_.empty()) {
        tok.cls_id_ = tok.prefix_ids_.front();
    }
    if (tok.sep_id_ < 0 && !tok.suffix_ids_.empty()) {
        tok.sep_id_ = tok.suffix_ids_.back();
    }
    return tok;
}

int32_t Tokenizer::token_to_id(const std::string& token) const {
    auto it = token_ids_.find(token);
    return it == token_ids_.end() ? -1 : it->second;
}

std::string Tokenizer::id_to_token(int32_t id) const {
    if (id < 0 || id >= vocab_size_) {
        return std::string();
    }
    return id_to_token_[static_cast<size_t>(id)];
}

void Tokenizer::encode_words(const char* s, size_t n, std::vector<int32_t>* ids) const {
    std::string prefixed;
    if (add_prefix_space_ && n > 0 && s[0] != ' ') {
        prefixed.reserve(n + 1);
        prefixed.push_back(' ');
        prefixed.append(s, n);
        s = prefixed.data();
        n = prefixed.size();
    }
    if (!use_regex_) {
        bpe_->encode_word(s, n, ids);
        return;
    }
    std::vector<Span> words;
    words.reserve(n / 3 + 1);
    split_gpt2(s, n, &words);
    for (const Span& w : words) {
        bpe_->encode_word(s + w.begin, w.end - w.begin, ids);
    }
}

void Tokenizer::encode_unmatched(const char* s, size_t n, std::vector<int32_t>* ids) const {
    std::string normalized;
    if (nfc_) {
        bool ascii = true;
        for (size_t i = 0; i < n && ascii; ++i) {
            ascii = static_cast<unsigned char>(s[i]) < 0x80;
        }
        if (!ascii) {
            normalized = unicode::nfc(std::string(s, n));
            s = normalized.data();
            n = normalized.size();
        }
    }
    if (normalized_matcher_.empty()) {
        encode_words(s, n, ids);
        return;
    }
    std::vector<AddedSplit> splits;
    normalized_matcher_.split(s, n, &splits);
    for (const AddedSplit& sp : splits) {
        if (sp.id >= 0) {
            ids->push_back(sp.id);
        } else {
            encode_words(s + sp.begin, sp.end - sp.begin, ids);
        }
    }
}

void Tokenizer::encode_body(const std::string& text, std::vector<int32_t>* ids) const {
    // Rust strings are valid UTF-8 by construction; ours may not be (C sources in Latin-1): decode
    // lossily.
    std::string repaired;
    const std::string* src = &text;
    if (!unicode::is_ascii(text)) {
        repaired = unicode::to_valid_utf8(text);
        src = &repaired;
    }
    ids->reserve(ids->size() + src->size() / 3 + 4);
    if (raw_matcher_.empty()) {
        encode_unmatched(src->data(), src->size(), ids);
        return;
    }
    std::vector<AddedSplit> splits;
    raw_matcher_.split(src->data(), src->size(), &splits);
    for (const AddedSplit& sp : splits) {
        if (sp.id >= 0) {
            ids->push_back(sp.id);
        } else {
            encode_unmatched(src->data() + sp.begin, sp.end - sp.begin, ids);
        }
    }
}

Encoding Tokenizer::encode(const std::string& text, bool add_special_tokens, int max_length) const {
    size_t n_special = add_special_tokens ? prefix_ids_.size() + suffix_ids_.size() : 0;
    if (max_length < 0) {
        throw InputError("max_length must be >= 0 (0 = no truncation), got " +
                         std::to_string(max_length));
    }
    if (max_length > 0 && static_cast<size_t>(max_length) < n_special) {
        throw InputError("max_length " + std::to_string(max_length) + " leaves no room for the " +
                         std::to_string(n_special) + " special tokens");
    }
    std::vector<int32_t> body;
    encode_body(text, &body);
    Encoding enc;
    enc.full_length = static_cast<int64_t>(body.size() + n_special);
    if (max_length > 0 && body.size() + n_special > static_cast<size_t>(max_length)) {
        body.resize(static_cast<size_t>(max_length) - n_special);
        enc.truncated = true;
    }
    if (!add_special_tokens) {
        enc.ids = std::move(body);
        return enc;
    }
    enc.ids.reserve(body.size() + n_special);
    enc.ids.insert(enc.ids.end(), prefix_ids_.begin(), prefix_ids_.end());
    enc.ids.insert(enc.ids.end(), body.begin(), body.end());
    enc.ids.insert(enc.ids.end(), suffix_ids_.begin(), suffix_ids_.end());
    return enc;
}

std::vector<Encoding> Tokenizer::encode_batch(const std::vector<std::string>& texts,
                                              bool add_special_tokens, int max_length, int threads,
                                              int* threads_run) const {
    std::vector<Encoding> out(texts.size());
    if (threads <= 0) {
        threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    }
    size_t n_threads = std::min<size_t>(static_cast<size_t>(threads), texts.size());
    if (threads_run != nullptr) {
        *threads_run = static_cast<int>(n_threads);
    }
    if (n_threads <= 1) {
        for (size_t i = 0; i < texts.size(); ++i) {
            out[i] = encode(texts[i], add_special_tokens, max_length);
        }
        return out;
    }
    // Small chunks taken from a shared counter balance uneven text lengths; each result lands at
    // its own index, so the output order never depends on scheduling.
    const size_t chunk = std::max<size_t>(1, std::min<size_t>(64, texts.size() / (n_threads * 8)));
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    auto worker = [&]() {
        try {
            while (!failed.load(std::memory_order_relaxed)) {
                size_t begin = next.fetch_add(chunk);
                if (begin >= texts.size()) {
                    break;
                }
                size_t end = std::min(texts.size(), begin + chunk);
                for (size_t i = begin; i < end; ++i) {
                    out[i] = encode(texts[i], add_special_tokens, max_length);
                }
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) {
                error = std::current_exception();
            }
            failed.store(true);
        }
    };
    std::vector<std::thread> pool;
    pool.reserve(n_threads - 1);
    for (size_t t = 0; t + 1 < n_threads; ++t) {
        pool.emplace_back(worker);
    }
    worker();
    for (auto& th : pool) {
        th.join();
    }
    if (error) {
        std::rethrow_exception(error);
    }
    return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
    // Inverse of the byte → code point table.
    static const std::vector<int> kUnicodeToByte = [] {
        std::vector<int> inv(512, -1);
        const auto& table = byte_to_unicode();
        for (int b = 0; b < 256; ++b) {
            inv[static_cast<size_t>(table[static_cast<size_t>(b)])] = b;
        }
        return inv;
    }();
    std::string bytes;
    for (size_t k = 0; k < ids.size(); ++k) {
        int32_t id = ids[k];
        if (id < 0 || id >= vocab_size_ || id_kind_[static_cast<size_t>(id)] == kKindUnused) {
            throw InputError("decode", "ids[" + std::to_string(k) + "]",
                             "id " + std::to_string(id) + " is not in the vocabulary");
        }
        uint8_t kind = id_kind_[static_cast<size_t>(id)];
        const std::string& token = id_to_token_[static_cast<size_t>(id)];
        if (kind == kKindAddedSpecial && skip_special_tokens) {
            continue;
        }
        if (kind != kKindVocab) {
            bytes += token;
            continue;
        }
        for (size_t i = 0; i < token.size();) {
            size_t len = 1;
            int32_t cp = unicode::decode(token.data() + i, token.size() - i, &len);
            int b = cp >= 0 && cp < 512 ? kUnicodeToByte[static_cast<size_t>(cp)] : -1;
            if (b >= 0) {
                bytes.push_back(static_cast<char>(b));
            } else {
                bytes.append(token, i,
                             len);  // not a byte-level character: keep it as is, as HF does
            }
            i += len;
        }
    }
    return unicode::to_valid_utf8(bytes);
}

}  // namespace gk::text
