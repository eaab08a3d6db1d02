// Strict JSON reading for files fed from anywhere: UTF-8 checked before parsing (the bad byte's
// offset named), byte order marks and UTF-16 named, and duplicate object keys rejected with their
// JSON path (nlohmann, like most parsers, would silently keep the last one).
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace gk {

// Parses one JSON document. Errors are InputError(file, place, ...): `place` is what the caller
// knows (a line of a JSON Lines file, "header" of a safetensors file) or, when empty, the parser's
// "line L, column C" or the duplicate key's path (e.g. "model.vocab.hello"). `offset_base` is the
// offset of bytes[0] in the file, for the UTF-8 message.
nlohmann::json parse_json_strict(std::string_view bytes, const std::string& file,
                                 const std::string& place = "", size_t offset_base = 0);

}  // namespace gk
