// `greenknobs variants [--catalog FILE]`: the catalog's variants with their knobs, how each differs
// from the paper, and whether it runs here or is skipped (and why).
#ifdef GK_HAVE_KNOBS

#include <climits>
#include <cstdio>
#include <memory>
#include <string>

#include <unistd.h>

#include "greenknobs/knobs/catalog.h"
#include "greenknobs/knobs/listing.h"
#include "greenknobs/util/fs.h"

#include "command.h"

namespace gk::app {
gk::knobs::Capabilities detect_here(const std::string& device);  // cmd_knobs.cpp
}

namespace {

struct VariantsOptions {
    std::string catalog;
    bool json = false;
    std::string device;  // empty = the catalog's base device
};

// variants/paper.toml from the working directory, else beside an in-tree build
// (<repo>/build*/bin/greenknobs).
std::string default_catalog() {
    const std::string rel = "variants/paper.toml";
    if (gk::fs::exists(rel)) {
        return rel;
    }
    char exe[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        std::string dir(exe);
        for (int up = 0; up < 3; ++up) {
            auto slash = dir.rfind('/');
            if (slash == std::string::npos) {
                break;
            }
            dir.resize(slash);
            if (gk::fs::exists(dir + "/" + rel)) {
                return dir + "/" + rel;
            }
        }
    }
    return rel;  // read_file's error names it
}

gk::app::Registrar reg("variants", 21, [](CLI::App& app) -> gk::app::RunFn {
    auto opt = std::make_shared<VariantsOptions>();
    auto* sub = app.add_subcommand("variants",
                                   "List a variant catalog: knobs, differences from the paper, "
                                   "run here or skipped and why");
    sub->add_option("--catalog", opt->catalog, "catalog TOML (default variants/paper.toml)");
    sub->add_flag("--json", opt->json, "print the catalog as JSON");
    sub->add_option("--device", opt->device,
                    "device to check support for: cpu | cuda (default: the catalog's)");
    return [opt]() {
        gk::knobs::Catalog cat =
            gk::knobs::load_catalog(opt->catalog.empty() ? default_catalog() : opt->catalog);
        if (!opt->device.empty()) {
            gk::config::apply_set(cat.base, "system.device=" + opt->device);
        }
        auto caps = gk::app::detect_here(gk::config::to_string(cat.base.system.device));
        if (opt->json) {
            std::printf("%s\n", gk::knobs::variants_json(cat, caps).dump(2).c_str());
        } else {
            std::printf("%s", gk::knobs::variants_table(cat, caps).c_str());
        }
        return 0;
    };
});

}  // namespace

#endif  // GK_HAVE_KNOBS
