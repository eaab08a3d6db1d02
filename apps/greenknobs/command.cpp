// Storage for the subcommand registry (function-local static: safe across translation units).
#include "command.h"

namespace gk::app {

std::vector<CommandSpec>& registry() {
    static std::vector<CommandSpec> r;
    return r;
}

Registrar::Registrar(std::string name, int order, SetupFn setup) {
    registry().push_back({std::move(name), order, std::move(setup)});
}

}  // namespace gk::app
