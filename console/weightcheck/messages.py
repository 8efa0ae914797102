"""The failure messages of seed table 4 (权重校验常见的失败信息).

``message``, ``explanation_zh`` and ``advice_zh`` are the seed's text exactly (the
console shows them verbatim and users search for them); ``explanation_en`` and
``advice_en`` are our translations of the Chinese columns. Keys are the stable
codes stored with a report; they are listed in the order the checks run.
"""

FAILURES: dict[str, dict[str, str]] = {
    "user_config": {
        "message": "Failed to read user config.json.",
        "explanation_zh": "config.json不存在或内容不符合json格式。",
        "advice_zh": "检查“config.json”文件是否存在,或者是内容是否为json格式。",
        "explanation_en": "config.json does not exist or its content is not JSON.",
        "advice_en": "Check that “config.json” exists and that its content is JSON.",
    },
    "template_selection": {
        "message": "Backend model template selection error (metadata error).",
        "explanation_zh": "后台模型模板选择错误。",
        "advice_zh": "查看日志定位处理问题,或者联系技术支持。",
        "explanation_en": "The platform picked a wrong backend model template.",
        "advice_en": "Check the log to locate the problem, or contact technical support.",
    },
    "standard_config": {
        "message": "Failed to read standard config.json in the background.",
        "explanation_zh": "后台读取标准config.json失败。",
        "advice_zh": "查看日志定位处理问题,或者联系技术支持。",
        "explanation_en": "The platform failed to read the standard config.json.",
        "advice_en": "Check the log to locate the problem, or contact technical support.",
    },
    "key_fields": {
        "message": "Key fields describing the model structure are missing from config.json, or their values are inconsistent with standard open source.",
        "explanation_zh": "config.json中缺少描述模型结构的关键字段,或其值与标准开源不一致。",
        "advice_zh": "检查“config.json”文件中的配置是否与模型官方一致。",
        "explanation_en": "config.json lacks key fields describing the model structure, or their values differ from the standard open-source config.",
        "advice_en": "Check that the settings in “config.json” match the official model.",
    },
    "quantization_missing": {
        "message": "The quantization_config field is missing in config.json, please check whether it is awq quantization weight.",
        "explanation_zh": "config.json中缺少quantization_config字段,请检查是否为awq量化权重。",
        "advice_zh": "检查权重和模型模板是否匹配。",
        "explanation_en": "config.json lacks the quantization_config field; check whether these are AWQ-quantized weights.",
        "advice_en": "Check that the weights match the model template.",
    },
    "quantization_extra": {
        "message": "There is an extra quantization_config field in config.json. Please check whether it is a non-quantized weight.",
        "explanation_zh": "config.json中多出quantization_config字段,请检查是否为非量化权重。",
        "advice_zh": "检查权重和模型模板是否匹配。",
        "explanation_en": "config.json has an extra quantization_config field; check whether these are non-quantized weights.",
        "advice_en": "Check that the weights match the model template.",
    },
    "generation_config": {
        "message": "Failed to read generation_config.json.",
        "explanation_zh": "generation_config.json内容格式错误。",
        "advice_zh": "检查“generation_config.json”文件中的内容是否为json格式。",
        "explanation_en": "The content of generation_config.json is not well-formed.",
        "advice_en": "Check that the content of “generation_config.json” is JSON.",
    },
    "do_sample": {
        "message": "The value of do_sample is not set to true in generation_config.json, which is inconsistent with the configured sampling parameters such as temperature, top_p, top_k etc.",
        "explanation_zh": "在generation_config.json中没有将do_sample的值设置为true,与配置的temperature、top_p、top_k等采样参数矛盾。",
        "advice_zh": "将“generation_config.json”文件中的“do_sample”的值设置为“true”。",
        "explanation_en": "generation_config.json does not set do_sample to true, which contradicts the sampling parameters it configures, such as temperature, top_p and top_k.",
        "advice_en": "Set “do_sample” to “true” in “generation_config.json”.",
    },
    "tokenizer": {
        "message": "Error loading tokenizer in transformers.",
        "explanation_zh": "transformers加载tokenizer出错。",
        "advice_zh": "检查词表文件是否正确。",
        "explanation_en": "transformers failed to load the tokenizer.",
        "advice_en": "Check that the vocabulary files are correct.",
    },
    "weights": {
        "message": "Error loading weights in transformers.",
        "explanation_zh": "transformers加载权重出错。",
        "advice_zh": "检查权重文件是否正确。",
        "explanation_en": "transformers failed to load the weights.",
        "advice_en": "Check that the weight files are correct.",
    },
    "unknown": {
        "message": "Unknown error, please contact the operation and maintenance personnel or check the log to locate the specific problem.",
        "explanation_zh": "未知错误。",
        "advice_zh": "查看日志定位处理问题,或者联系技术支持。",
        "explanation_en": "Unknown error.",
        "advice_en": "Check the log to locate the problem, or contact technical support.",
    },
}
