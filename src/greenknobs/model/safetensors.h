// The safetensors format, read and written without torch: an 8-byte little-endian header length, a
// JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the raw
// little-endian data. Every malformed input is an InputError naming the file and the tensor.
// Tensors are made at the edge (modernbert.cpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gk::model {

enum class StDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

// "F32" etc.; throws InputError(origin, tensor, ...) for unknown names.
StDtype st_dtype_from_name(const std::string& name, const std::string& origin,
                           const std::string& tensor);
std::string st_dtype_name(StDtype d);
size_t st_dtype_size(StDtype d);

struct StTensorInfo {
    std::string name;
    StDtype dtype = StDtype::kF32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // byte offsets into the data section
    uint64_t end = 0;
    int64_t numel() const;
};

// A whole file in memory, validated.
class SafetensorsFile {
  public:
    // Parses and validates `bytes` (the file's content); `origin` names the file in errors.
    SafetensorsFile(std::string bytes, std::string origin);
    static SafetensorsFile read(const std::string& path);

    const std::string& origin() const { return origin_; }
    const std::vector<StTensorInfo>& tensors() const { return tensors_; }  // in data order
    const std::map<std::string, std::string>& metadata() const { return metadata_; }
    // nullptr when absent.
    const StTensorInfo* find(const std::string& name) const;
    // Start of the tensor's bytes (end - begin of them).
    const char* data(const StTensorInfo& t) const;

  private:
    std::string bytes_;
    std::string origin_;
    uint64_t data_start_ = 0;
    std::vector<StTensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
};

// One tensor to write: raw little-endian bytes, C-contiguous.
struct StTensorView {
    std::string name;
    StDtype dtype = StDtype::kF32;
    std::vector<int64_t> shape;
    const void* data = nullptr;
    size_t nbytes = 0;
};

// The file's bytes: tensors in the given order, header padded with spaces to a multiple of 8 bytes.
std::string safetensors_bytes(const std::vector<StTensorView>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
// Writes atomically (tmp + rename).
void write_safetensors(const std::string& path, const std::vector<StTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gk::model
