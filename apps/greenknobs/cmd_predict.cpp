// `greenknobs predict --model DIR`: JSON Lines in ({"text"} or {"input_ids","attention_mask"}) → logits,
// label and p(vulnerable) out, with a model directory written by `train`.
#include <iostream>

#include "command.h"
#include "greenknobs/pipeline/pipeline.h"

namespace {

gk::app::Registrar reg("predict", 40, [](CLI::App& app) -> gk::app::RunFn {
    auto model = std::make_shared<std::string>();
    auto device = std::make_shared<std::string>("cpu");
    auto max_length = std::make_shared<int>(0);
    auto batch = std::make_shared<int>(32);
    auto* sub = app.add_subcommand("predict", "classify functions (JSON Lines on stdin) with a saved model");
    sub->add_option("--model", *model, "model directory (model.safetensors, config.json, tokenizer.json)")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--device", *device, "cpu | cuda")->capture_default_str();
    sub->add_option("--max-length", *max_length, "truncate texts to N tokens (0 = the model's training length)");
    sub->add_option("--batch-size", *batch, "sequences per forward pass")->capture_default_str();
    return [=]() -> int {
        gk::pipeline::predict_jsonl(*model, std::cin, std::cout, *device, *max_length, *batch);
        return 0;
    };
});

}  // namespace
