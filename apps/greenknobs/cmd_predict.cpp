// `greenknobs predict --model DIR`: JSON Lines in ({"text"} or {"input_ids","attention_mask"}) → a
// classifier's logits, label and p(vulnerable), or a masked LM's top-k fills of each [MASK].
#include <iostream>

#include "greenknobs/pipeline/pipeline.h"

#include "command.h"

namespace {

gk::app::Registrar reg("predict", 40, [](CLI::App& app) -> gk::app::RunFn {
    auto model = std::make_shared<std::string>();
    auto device = std::make_shared<std::string>("cpu");
    auto max_length = std::make_shared<int>(0);
    auto batch = std::make_shared<int>(32);
    auto top_k = std::make_shared<int>(5);
    auto mask_id = std::make_shared<int64_t>(-1);
    auto* sub = app.add_subcommand(
        "predict", "classify functions, or fill [MASK]s with a masked LM (JSON Lines on stdin)");
    sub->add_option("--model", *model,
                    "model directory (model.safetensors, config.json, tokenizer.json)")
        ->required()
        ->check(CLI::ExistingDirectory);
    sub->add_option("--device", *device, "cpu | cuda")->capture_default_str();
    sub->add_option("--max-length", *max_length,
                    "truncate texts to N tokens (0 = the model's training length)");
    sub->add_option("--batch-size", *batch, "sequences per forward pass")->capture_default_str();
    sub->add_option("--top-k", *top_k, "masked LM: candidates per [MASK]")->capture_default_str();
    sub->add_option("--mask-id", *mask_id,
                    "masked LM: the [MASK] id (default: greenknobs.json, else tokenizer.json)");
    return [=]() -> int {
        gk::pipeline::PredictOptions opt;
        opt.device = *device;
        opt.max_length = *max_length;
        opt.batch_size = *batch;
        opt.top_k = *top_k;
        opt.mask_id = *mask_id;
        gk::pipeline::predict_jsonl(*model, std::cin, std::cout, opt);
        return 0;
    };
});

}  // namespace
