"""Parameter definitions and values: every constraint of the seed, as a table."""

import pytest

from console.training import params

SEED_PARAMETERS = [
    {"name": "dist", "description": "", "value": "False",
     "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Boolean", "valid_range": [], "valid_type": "None"}},
    {"name": "world_size", "description": "", "value": "1",
     "constraint": {"editable": True, "required": False, "sensitive": False, "type": "Integer", "valid_range": [], "valid_type": "None"}},
]  # fmt: skip


def definition(name="p", type_="String", value="", **constraint):
    return {"name": name, "value": value, "constraint": {"type": type_, **constraint}}


def test_it_accepts_the_seeds_parameters_and_fills_the_full_shape():
    result = params.normalize_definitions(SEED_PARAMETERS)
    assert [d["name"] for d in result] == ["dist", "world_size"]
    assert result[0]["i18n_description"] is None
    assert result[1]["constraint"] == {
        "type": "Integer", "editable": True, "required": False, "sensitive": False, "valid_type": "None", "valid_range": [],
    }  # fmt: skip


@pytest.mark.parametrize(
    "raw, message",
    [
        ([definition(name="world size")], "is not a valid name"),
        ([definition(name="x" * 65)], "is not a valid name"),
        ([definition(name="a.b")], "is not a valid name"),
        ([definition(name="ok"), definition(name="ok")], "listed twice"),
        (
            [{**definition(name="ok"), "description": "d" * 257}],
            "The description of ok must be at most 256 characters.",
        ),
        ([definition(type_="Double")], "the type must be String, Integer, Float or Boolean"),
        ([definition(type_="Integer", value="1.5")], "must be an integer"),
        ([definition(type_="Float", value="abc")], "must be a number"),
        ([definition(type_="Float", value="nan")], "must be a number"),
        ([definition(type_="Boolean", value="yes")], "must be True or False"),
        ([definition(type_="Integer", value="50", valid_type="Range", valid_range=[1, 10])], "between 1 and 10"),
        ([definition(type_="Integer", valid_type="Range", valid_range=[10, 1])], "minimum ≤ maximum"),
        ([definition(type_="Integer", valid_type="Range", valid_range=["a"])], "[minimum, maximum]"),
        ([definition(type_="Boolean", valid_type="Range", valid_range=[0, 1])], "cannot have a Range"),
        ([definition(valid_type="Choice", valid_range=[])], "must list the allowed values"),
        ([definition(type_="Integer", valid_type="Choice", valid_range=["1", "two"])], "must all be of type Integer"),
        ([definition(valid_type="Maybe")], "use None, Range or Choice"),
        ([definition(required=True, editable=False)], "needs a default value"),
        ([definition(editable="perhaps")], "must be true or false"),
        ("not a list", "must be a list"),
    ],
)
def test_it_refuses_broken_definitions(raw, message):
    with pytest.raises(params.ParameterErrors) as caught:
        params.normalize_definitions(raw)
    assert any(message in text for text in caught.value.errors["parameters"]), caught.value.errors


def resolve(definitions, given, customization=False):
    return params.resolve_values(params.normalize_definitions(definitions), given, customization=customization)


def test_values_default_to_the_algorithm_and_can_be_overridden():
    assert resolve(SEED_PARAMETERS, []) == [{"name": "dist", "value": "False"}, {"name": "world_size", "value": "1"}]
    assert resolve(SEED_PARAMETERS, [{"name": "world_size", "value": "2"}, {"name": "dist", "value": "True"}]) == [
        {"name": "dist", "value": "True"},
        {"name": "world_size", "value": "2"},
    ]
    assert resolve(SEED_PARAMETERS, [{"name": "world_size", "value": 4}])[1] == {"name": "world_size", "value": "4"}


@pytest.mark.parametrize(
    "definitions, given, message",
    [
        ([definition(type_="Integer")], [{"name": "p", "value": "x"}], "must be an integer"),
        ([definition(type_="Float")], [{"name": "p", "value": "1e999"}], "must be a number"),
        ([definition(type_="Boolean")], [{"name": "p", "value": "maybe"}], "must be True or False"),
        (
            [definition(type_="Float", valid_type="Range", valid_range=[0, 1])],
            [{"name": "p", "value": "1.5"}],
            "between 0 and 1",
        ),
        ([definition(valid_type="Range", valid_range=[2, 4])], [{"name": "p", "value": "abcdef"}], "2 to 4 characters"),
        (
            [definition(valid_type="Choice", valid_range=["adam", "sgd"])],
            [{"name": "p", "value": "rmsprop"}],
            "one of adam, sgd",
        ),
        ([definition(required=True)], [], "is required"),
        ([definition(required=True)], [{"name": "p", "value": ""}], "is required"),
        ([definition(value="fixed", editable=False)], [{"name": "p", "value": "changed"}], "is not editable"),
        ([definition()], [{"name": "q", "value": "1"}], "does not allow custom parameters"),
        ([definition()], [{"name": "p", "value": "a\x00b"}], "NUL character"),
        ([definition()], [{"name": "p", "value": "x" * 5000}], "longer than 4096"),
        ([definition()], [{"name": "p", "value": "1"}, {"name": "p", "value": "2"}], "given twice"),
        ([definition()], [{"value": "1"}], "needs a name"),
    ],
)
def test_it_refuses_values_that_break_a_constraint(definitions, given, message):
    with pytest.raises(params.ParameterErrors) as caught:
        resolve(definitions, given)
    assert any(message in text for text in caught.value.errors["parameters"]), caught.value.errors


def test_a_non_editable_parameter_may_be_repeated_with_its_own_value():
    assert resolve([definition(value="fixed", editable=False)], [{"name": "p", "value": "fixed"}]) == [
        {"name": "p", "value": "fixed"}
    ]


def test_choice_compares_values_by_type():
    assert resolve(
        [definition(type_="Integer", valid_type="Choice", valid_range=[1, 2])], [{"name": "p", "value": "02"}]
    )


def test_custom_parameters_need_customization_and_a_valid_name():
    assert resolve([], [{"name": "extra", "value": "1"}], customization=True) == [{"name": "extra", "value": "1"}]
    with pytest.raises(params.ParameterErrors):
        resolve([], [{"name": "bad name", "value": "1"}], customization=True)


@pytest.mark.parametrize(
    "value", ["a; rm -rf /", "$(id)", "`id`", "line1\nline2", "'quoted' \"double\"", "--other=1", "*"]
)
def test_hostile_values_are_one_literal_argument_each(value):
    values = resolve([definition()], [{"name": "p", "value": value}])
    assert params.argv_for(values) == [f"--p={value}"]


def test_sensitive_values_are_masked_for_display():
    definitions = params.normalize_definitions(
        [definition(name="token", value="dflt", sensitive=True), definition(name="lr", value="0.1")]
    )
    values = [{"name": "token", "value": "real-secret"}, {"name": "lr", "value": "0.2"}]
    assert params.masked(values, definitions) == [{"name": "token", "value": "******"}, {"name": "lr", "value": "0.2"}]
    assert params.masked_definitions(definitions)[0]["value"] == "******"
    assert params.masked_definitions(definitions)[1]["value"] == "0.1"
