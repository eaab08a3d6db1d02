// Subcommand registry: each cmd_<name>.cpp registers itself with a static Registrar, so adding a
// command touches no other file. A command's setup adds its CLI11 subcommand and returns the
// function that runs it.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace gk::app {

// Runs the parsed subcommand; returns the process exit code.
using RunFn = std::function<int()>;
// Adds the subcommand to the app and returns its runner.
using SetupFn = std::function<RunFn(CLI::App& app)>;

struct CommandSpec {
    std::string name;
    int order;  // position in --help
    SetupFn setup;
};

std::vector<CommandSpec>& registry();

struct Registrar {
    Registrar(std::string name, int order, SetupFn setup);
};

}  // namespace gk::app
