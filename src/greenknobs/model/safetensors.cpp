// See safetensors.h. Validation follows the format's rules: a UTF-8 JSON header that starts with
// '{' and is padded only with spaces, unique tensor names, offsets inside the data section, no
// overlaps and no holes, byte length = numel x dtype size (computed without overflow), known dtypes
// only.
#include "greenknobs/model/safetensors.h"

#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "greenknobs/util/error.h"
#include "greenknobs/util/fs.h"
#include "greenknobs/util/json_strict.h"

namespace gk::model {
namespace {

// A header larger than this is not a model header but a corrupt length (the reference reader caps
// at 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100ull * 1024 * 1024;

bool host_is_little_endian() {
    const uint16_t probe = 1;
    unsigned char first = 0;
    std::memcpy(&first, &probe, 1);
    return first == 1;
}

}  // namespace

StDtype st_dtype_from_name(const std::string& name, const std::string& origin,
                           const std::string& tensor) {
    static const std::map<std::string, StDtype> kNames = {
        {"F64", StDtype::kF64},   {"F32", StDtype::kF32}, {"F16", StDtype::kF16},
        {"BF16", StDtype::kBF16}, {"I64", StDtype::kI64}, {"I32", StDtype::kI32},
        {"I16", StDtype::kI16},   {"I8", StDtype::kI8},   {"U8", StDtype::kU8},
        {"BOOL", StDtype::kBool}};
    auto it = kNames.find(name);
    if (it == kNames.end()) {
        throw InputError(origin, tensor,
                         "unknown dtype \"" + name +
                             "\" (expected F64, F32, F16, BF16, I64, I32, I16, I8, U8 or "
                             "BOOL)");
    }
    return it->second;
}

std::string st_dtype_name(StDtype d) {
    switch (d) {
        case StDtype::kF64:
            return "F64";
        case StDtype::kF32:
            return "F32";
        case StDtype::kF16:
            return "F16";
        case StDtype::kBF16:
            return "BF16";
        case StDtype::kI64:
            return "I64";
        case StDtype::kI32:
            return "I32";
        case StDtype::kI16:
            return "I16";
        case StDtype::kI8:
            return "I8";
        case StDtype::kU8:
            return "U8";
        case StDtype::kBool:
            return "BOOL";
    }
    return "?";
}

size_t st_dtype_size(StDtype d) {
    switch (d) {
        case StDtype::kF64:
        case StDtype::kI64:
            return 8;
        case StDtype::kF32:
        case StDtype::kI32:
            return 4;
        case StDtype::kF16:
        case StDtype::kBF16:
        case StDtype::kI16:
            return 2;
        case StDtype::kI8:
        case StDtype::kU8:
        case StDtype::kBool:
            return 1;
    }
    return 0;
}

int64_t StTensorInfo::numel() const {
    // A read file's shapes are checked (numel x dtype size = byte span), so only an empty tensor
    // can have dimensions whose running product overflows: test for it first.
    for (int64_t d : shape) {
        if (d == 0) {
            return 0;
        }
    }
    int64_t n = 1;
    for (int64_t d : shape) {
        n *= d;
    }
    return n;
}

SafetensorsFile SafetensorsFile::read(const std::string& path) {
    return SafetensorsFile(fs::read_file(path), path);
}

SafetensorsFile::SafetensorsFile(std::string bytes, std::string origin)
    : bytes_(std::move(bytes)), origin_(std::move(origin)) {
    GK_CHECK(host_is_little_endian(), "safetensors I/O assumes a little-endian host");
    if (bytes_.size() < 8) {
        throw InputError(origin_, "header",
                         "truncated: " + std::to_string(bytes_.size()) +
                             " bytes, fewer than the 8-byte header length");
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; --i) {
        header_len = (header_len << 8) | static_cast<unsigned char>(bytes_[i]);
    }
    if (header_len > kMaxHeaderBytes) {
        throw InputError(origin_, "header",
                         "header length " + std::to_string(header_len) + " is implausible");
    }
    if (header_len > bytes_.size() - 8) {
        throw InputError(origin_, "header",
                         "truncated: header says " + std::to_string(header_len) +
                             " bytes but only " + std::to_string(bytes_.size() - 8) + " follow");
    }
    data_start_ = 8 + header_len;
    const std::string_view head(bytes_.data() + 8, header_len);
    // The format: the header starts with '{' and may be padded with trailing spaces (0x20) only.
    if (head.empty() || head[0] != '{') {
        std::string why = head.empty() ? "is empty" : "does not start with '{'";
        if (head.size() >= 3 && head.compare(0, 3, "\xEF\xBB\xBF") == 0) {
            why = "starts with a UTF-8 byte order mark";
        }
        throw InputError(origin_, "header", why + " (the format wants a JSON object first)");
    }
    const size_t last = head.find_last_not_of(' ');
    if (head[last] != '}') {
        const auto c = static_cast<unsigned char>(head[last]);
        throw InputError(origin_, "header",
                         c == 0 ? "padded with NUL bytes (the format allows trailing spaces only)"
                                : "does not end with '}' (trailing padding may only be spaces)");
    }
    nlohmann::json header = parse_json_strict(head, origin_, "header", /*offset_base=*/8);
    if (!header.is_object()) {
        throw InputError(origin_, "header", "expected a JSON object");
    }
    const uint64_t data_len = bytes_.size() - data_start_;
    for (const auto& [name, entry] : header.items()) {
        if (name == "__metadata__") {
            if (!entry.is_object()) {
                throw InputError(origin_, name, "expected an object of strings");
            }
            for (const auto& [k, v] : entry.items()) {
                if (!v.is_string()) {
                    throw InputError(origin_, "__metadata__." + k, "expected a string");
                }
                metadata_[k] = v.get<std::string>();
            }
            continue;
        }
        if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
            !entry.contains("data_offsets")) {
            throw InputError(origin_, name, "entry needs dtype, shape and data_offsets");
        }
        StTensorInfo t;
        t.name = name;
        if (!entry["dtype"].is_string()) {
            throw InputError(origin_, name, "dtype must be a string");
        }
        t.dtype = st_dtype_from_name(entry["dtype"].get<std::string>(), origin_, name);
        if (!entry["shape"].is_array()) {
            throw InputError(origin_, name, "shape must be an array");
        }
        // numel x dtype size with overflow checks: anything beyond the data section is wrong
        // anyway, so the running product is capped there.
        bool too_big = false;
        uint64_t numel = 1;
        for (const auto& d : entry["shape"]) {
            if (!d.is_number_unsigned()) {
                throw InputError(origin_, name,
                                 "shape entries must be non-negative integers, got " + d.dump());
            }
            const uint64_t dim = d.get<uint64_t>();
            if (dim > static_cast<uint64_t>(INT64_MAX)) {
                throw InputError(origin_, name, "shape entry " + d.dump() + " is out of range");
            }
            t.shape.push_back(static_cast<int64_t>(dim));
            if (dim == 0) {
                numel = 0;
                too_big = false;
            } else if (numel != 0 && (too_big || numel > data_len / dim)) {
                too_big = true;
            } else {
                numel *= dim;
            }
        }
        const auto& off = entry["data_offsets"];
        if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
            !off[1].is_number_unsigned()) {
            throw InputError(origin_, name,
                             "data_offsets must be [begin, end] non-negative integers");
        }
        t.begin = off[0].get<uint64_t>();
        t.end = off[1].get<uint64_t>();
        if (t.begin > t.end) {
            throw InputError(origin_, name,
                             "data_offsets [" + std::to_string(t.begin) + ", " +
                                 std::to_string(t.end) + "] are reversed (begin after end)");
        }
        if (t.end > data_len) {
            throw InputError(origin_, name,
                             "data_offsets [" + std::to_string(t.begin) + ", " +
                                 std::to_string(t.end) + "] end beyond the data section (" +
                                 std::to_string(data_len) + " bytes; file truncated?)");
        }
        const uint64_t size = st_dtype_size(t.dtype);
        // Not too_big: numel <= data_len, so numel x size cannot overflow.
        if (too_big) {
            throw InputError(origin_, name,
                             "shape x dtype size exceeds the " + std::to_string(data_len) +
                                 "-byte data section (data_offsets span " +
                                 std::to_string(t.end - t.begin) + ")");
        }
        const uint64_t expected = numel * size;
        if (expected != t.end - t.begin) {
            throw InputError(origin_, name,
                             "shape x dtype size = " + std::to_string(expected) +
                                 " bytes but data_offsets span " + std::to_string(t.end - t.begin));
        }
        tensors_.push_back(std::move(t));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const StTensorInfo& a, const StTensorInfo& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    uint64_t cursor = 0;
    for (const auto& t : tensors_) {
        if (t.begin < cursor) {
            throw InputError(origin_, t.name, "data overlaps the previous tensor's bytes");
        }
        if (t.begin > cursor) {
            throw InputError(origin_, t.name,
                             "a hole of " + std::to_string(t.begin - cursor) +
                                 " bytes precedes this tensor's data");
        }
        cursor = t.end;
    }
    if (cursor != data_len) {
        throw InputError(
            origin_, "data",
            std::to_string(data_len - cursor) + " trailing bytes after the last tensor");
    }
}

const StTensorInfo* SafetensorsFile::find(const std::string& name) const {
    for (const auto& t : tensors_) {
        if (t.name == name) {
            return &t;
        }
    }
    return nullptr;
}

const char* SafetensorsFile::data(const StTensorInfo& t) const {
    return bytes_.data() + data_start_ + t.begin;
}

std::string safetensors_bytes(const std::vector<StTensorView>& tensors,
                              const std::map<std::string, std::string>& metadata) {
    GK_CHECK(host_is_little_endian(), "safetensors I/O assumes a little-endian host");
    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    uint64_t offset = 0;
    for (const auto& t : tensors) {
        int64_t numel = 1;
        for (int64_t d : t.shape) {
            numel *= d;
        }
        GK_CHECK(static_cast<size_t>(numel) * st_dtype_size(t.dtype) == t.nbytes,
                 "safetensors: byte length of " + t.name + " does not match its shape");
        GK_CHECK(!header.contains(t.name), "safetensors: duplicate tensor " + t.name);
        header[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                          {"shape", t.shape},
                          {"data_offsets", {offset, offset + t.nbytes}}};
        offset += t.nbytes;
    }
    std::string head = header.dump();
    // Pad with spaces so the data section starts 8-byte aligned (the format allows trailing
    // whitespace).
    while ((8 + head.size()) % 8 != 0) {
        head.push_back(' ');
    }
    std::string out;
    out.reserve(8 + head.size() + offset);
    uint64_t len = head.size();
    for (int i = 0; i < 8; ++i) {
        out.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
    }
    out += head;
    for (const auto& t : tensors) {
        out.append(static_cast<const char*>(t.data), t.nbytes);
    }
    return out;
}

void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    fs::write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

}  // namespace gk::model
