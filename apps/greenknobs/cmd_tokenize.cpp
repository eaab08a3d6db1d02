// `greenknobs tokenize`: JSON Lines {"text": ...} on stdin → {"ids": [...]} per line on stdout,
// with the HF-compatible tokenizer. The whole input is read and checked before anything is written;
// each line is read by the strict JSON reader (UTF-8, duplicate keys, trailing bytes:
// docs/input-rules.md).
#ifdef GK_HAVE_TEXT

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "greenknobs/text/tokenizer.h"
#include "greenknobs/util/error.h"
#include "greenknobs/util/json_strict.h"

#include "command.h"

namespace {

struct TokenizeOptions {
    std::string tokenizer;
    int max_length = 0;
    bool no_special = false;
    int threads = 0;
};

bool is_blank(const std::string& line) {
    return line.find_first_not_of(" \t\r") == std::string::npos;
}

int run_tokenize(const TokenizeOptions& opt) {
    gk::text::Tokenizer tok = gk::text::Tokenizer::from_file(opt.tokenizer);
    std::vector<std::string> texts;
    std::string line;
    int64_t line_no = 0;
    size_t offset = 0;  // of the line in the input, for the UTF-8 message
    while (std::getline(std::cin, line)) {
        ++line_no;
        const size_t line_offset = offset;
        offset += line.size() + 1;
        if (is_blank(line)) {
            continue;
        }
        // Duplicate keys, bytes that are not UTF-8, a BOM and anything after the object are errors
        // naming the line (nlohmann alone keeps the last duplicate and stops at nothing else).
        const nlohmann::json j =
            gk::parse_json_strict(line, "<stdin>", std::to_string(line_no), line_offset);
        auto it = j.is_object() ? j.find("text") : j.end();
        if (!j.is_object() || it == j.end() || !it->is_string()) {
            throw gk::InputError("<stdin>", std::to_string(line_no),
                                 "expected an object with a string field \"text\"");
        }
        texts.push_back(it->get<std::string>());
    }
    auto encs = tok.encode_batch(texts, !opt.no_special, opt.max_length, opt.threads);
    std::string out;
    char buf[16];
    for (const auto& enc : encs) {
        out += "{\"ids\":[";
        for (size_t i = 0; i < enc.ids.size(); ++i) {
            if (i > 0) {
                out.push_back(',');
            }
            auto res = std::to_chars(buf, buf + sizeof(buf), enc.ids[i]);
            out.append(buf, res.ptr);
        }
        out += "]}\n";
        if (out.size() > (1u << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
    return 0;
}

gk::app::Registrar reg("tokenize", 40, [](CLI::App& app) -> gk::app::RunFn {
    auto* sub = app.add_subcommand(
        "tokenize",
        "Encode JSON Lines {\"text\": ...} from stdin to {\"ids\": [...]} lines on stdout");
    auto opt = std::make_shared<TokenizeOptions>();
    sub->add_option("--tokenizer", opt->tokenizer, "HF tokenizer.json (byte-level BPE)")
        ->required();
    sub->add_option("--max-length", opt->max_length,
                    "truncate to N ids, specials included (0 = off)")
        ->check(CLI::NonNegativeNumber);
    sub->add_flag("--no-special", opt->no_special, "no [CLS]/[SEP]");
    sub->add_option("--threads", opt->threads, "encoding threads (0 = all hardware threads)")
        ->check(CLI::NonNegativeNumber);
    return [opt]() -> int { return run_tokenize(*opt); };
});

}  // namespace

#endif  // GK_HAVE_TEXT
