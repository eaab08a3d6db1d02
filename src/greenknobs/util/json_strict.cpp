// See json_strict.h. Duplicate keys are found with nlohmann's parse callback: one frame per open
// object or array keeps the keys seen (objects) or the element index (arrays), which also gives the
// path for the message.
#include "greenknobs/util/json_strict.h"

#include <unordered_set>
#include <vector>

#include "greenknobs/util/error.h"
#include "greenknobs/util/text_check.h"

namespace gk {
namespace {

using nlohmann::json;

// Deeper nesting is no model file or record but an attack on recursive consumers (dump, TOML).
constexpr size_t kMaxDepth = 512;

struct Frame {
    bool object = false;
    std::string key;   // objects: the key of the member being read
    size_t index = 0;  // arrays: the element being read
    std::unordered_set<std::string> keys;
};

std::string path_of(const std::vector<Frame>& frames, const std::string& last_key) {
    std::string p;
    for (size_t i = 0; i + 1 < frames.size(); ++i) {
        const Frame& f = frames[i];
        if (f.object) {
            p += (p.empty() ? "" : ".") + f.key;
        } else {
            p += "[" + std::to_string(f.index) + "]";
        }
    }
    return p + (p.empty() ? "" : ".") + last_key;
}

// nlohmann's message without its "[json.exception.parse_error.101] parse error at line 1, column
// 5: " prefix (the place is given separately).
std::string parse_detail(std::string what) {
    if (!what.empty() && what[0] == '[' && what.find("] ") != std::string::npos) {
        what = what.substr(what.find("] ") + 2);
    }
    if (what.rfind("parse error", 0) == 0 && what.find(": ") != std::string::npos) {
        what = what.substr(what.find(": ") + 2);
    }
    return what;
}

}  // namespace

json parse_json_strict(std::string_view bytes, const std::string& file, const std::string& place,
                       size_t offset_base) {
    if (offset_base == 0 && bytes.size() >= 3 && bytes.compare(0, 3, "\xEF\xBB\xBF") == 0) {
        throw InputError(file, place,
                         "starts with a UTF-8 byte order mark: JSON (RFC 8259) and HF's loaders "
                         "expect none; save the file without it");
    }
    require_utf8_text(bytes, file, place, offset_base);
    std::vector<Frame> frames;
    json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                if (frames.size() >= kMaxDepth) {
                    throw InputError(
                        file, place,
                        "JSON nested deeper than " + std::to_string(kMaxDepth) + " levels");
                }
                frames.push_back(Frame{event == json::parse_event_t::object_start, "", 0, {}});
                break;
            case json::parse_event_t::key: {
                Frame& f = frames.back();
                std::string key = parsed.get<std::string>();
                if (!f.keys.insert(key).second) {
                    const std::string path = path_of(frames, key);
                    throw InputError(file, place.empty() ? path : place,
                                     "duplicate key '" + path +
                                         "' (the later value would silently replace the "
                                         "earlier one)");
                }
                f.key = std::move(key);
                break;
            }
            case json::parse_event_t::object_end:
            case json::parse_event_t::array_end:
                frames.pop_back();
                [[fallthrough]];
            case json::parse_event_t::value:
                if (!frames.empty() && !frames.back().object) {
                    ++frames.back().index;
                }
                break;
        }
        return true;
    };
    try {
        return json::parse(bytes.begin(), bytes.end(), cb);
    } catch (const json::out_of_range& e) {
        // A number beyond double's range (1e999): nlohmann reports it as out_of_range.406.
        throw InputError(file, place, "a number out of range: " + parse_detail(e.what()));
    } catch (const json::parse_error& e) {
        // Line and column of the byte the parser stopped at.
        size_t at = std::min<size_t>(e.byte > 0 ? e.byte - 1 : 0, bytes.size());
        size_t line = 1;
        size_t line_start = 0;
        for (size_t i = 0; i < at; ++i) {
            if (bytes[i] == '\n') {
                ++line;
                line_start = i + 1;
            }
        }
        const std::string where =
            "line " + std::to_string(line) + ", column " + std::to_string(at - line_start + 1);
        if (place.empty()) {
            throw InputError(file, "", "invalid JSON at " + where + ": " + parse_detail(e.what()));
        }
        throw InputError(file, place, "invalid JSON: " + parse_detail(e.what()));
    }
}

}  // namespace gk
