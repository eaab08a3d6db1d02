// Shared by the corpus tests: tarballs written with libarchive in a temp directory, and reference
// functions (the "fine-tuning data") with lightly edited copies of them.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include "../common/temp_dir.h"

namespace gk::testing {

using Files = std::vector<std::pair<std::string, std::string>>;  // member path, bytes

// Writes `files` as a pax tarball at `path` through the given libarchive filter
// ("xz", "gzip", "bzip2" or "none").
inline void write_tarball(const std::string& path, const std::string& filter, const Files& files) {
    archive* a = archive_write_new();
    if (filter == "xz") {
        archive_write_add_filter_xz(a);
    } else if (filter == "gzip") {
        archive_write_add_filter_gzip(a);
    } else if (filter == "bzip2") {
        archive_write_add_filter_bzip2(a);
    }
    archive_write_set_format_pax_restricted(a);
    if (archive_write_open_filename(a, path.c_str()) != ARCHIVE_OK) {
        throw std::runtime_error("cannot write " + path + ": " + archive_error_string(a));
    }
    archive_entry* dir = archive_entry_new();
    archive_entry_set_pathname(dir, "pkg/");
    archive_entry_set_filetype(dir, AE_IFDIR);
    archive_entry_set_perm(dir, 0755);
    archive_write_header(a, dir);
    archive_entry_free(dir);
    for (const auto& [name, bytes] : files) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, name.c_str());
        archive_entry_set_size(e, static_cast<la_int64_t>(bytes.size()));
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_write_header(a, e);
        archive_write_data(a, bytes.data(), bytes.size());
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
}

inline void write_text(const std::string& path, const std::string& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << bytes;
}

// Three "fine-tuning" functions, each long enough (> 64 normalised bytes, ~100 tokens) that a
// one-line edit keeps the Jaccard of 5-shingles above 0.8.
inline std::string ref_a() {
    return "static int parse_header(struct pkt *p, const unsigned char *buf, size_t len)\n"
           "{\n"
           "\tif (len < sizeof(struct hdr))\n\t\treturn -EINVAL;\n"
           "\tp->version = buf[0] >> 4;\n"
           "\tp->flags = buf[0] & 0x0f;\n"
           "\tp->length = (buf[2] << 8) | buf[3];\n"
           "\tif (p->length > len)\n\t\treturn -EMSGSIZE;\n"
           "\tmemcpy(p->payload, buf + sizeof(struct hdr), p->length - sizeof(struct hdr));\n"
           "\treturn 0;\n"
           "}";
}

inline std::string ref_b() {
    return "int copy_name(char *dst, size_t dst_len, const char *src)\n"
           "{\n"
           "\tsize_t n = strlen(src);\n"
           "\tif (dst == NULL || src == NULL)\n\t\treturn -1;\n"
           "\tif (n >= dst_len)\n\t\tn = dst_len - 1;\n"
           "\tmemcpy(dst, src, n);\n"
           "\tdst[n] = '\\0';\n"
           "\tfor (size_t i = 0; i < n; i++)\n\t\tif (dst[i] == '/')\n\t\t\tdst[i] = '_';\n"
           "\treturn (int)n;\n"
           "}";
}

inline std::string ref_c() {
    return "void release_buffers(struct ring *r)\n"
           "{\n"
           "\tunsigned int i;\n"
           "\tfor (i = 0; i < r->count; i++) {\n"
           "\t\tif (r->slots[i].page)\n\t\t\tput_page(r->slots[i].page);\n"
           "\t\tr->slots[i].page = NULL;\n"
           "\t\tr->slots[i].offset = 0;\n"
           "\t}\n"
           "\tkfree(r->slots);\n"
           "\tr->slots = NULL;\n"
           "\tr->count = 0;\n"
           "}";
}

// The same function re-indented (spaces instead of tabs): equal after whitespace normalisation.
inline std::string reindented(const std::string& f) {
    std::string out;
    for (char c : f) {
        if (c == '\t') {
            out += "    ";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

// One token changed in one line: a near duplicate, not an exact one.
inline std::string edited_b() {
    std::string f = ref_b();
    f.replace(f.find("dst[i] = '_';"), 13, "dst[i] = '-';");
    return f;
}
inline std::string edited_c() {
    std::string f = ref_c();
    f.replace(f.find("r->count = 0;"), 13, "r->count = -1;");
    return f;
}

inline std::string csv_field(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        out += c == '"' ? std::string("\"\"") : std::string(1, c);
    }
    return out + "\"";
}

}  // namespace gk::testing
