"""One intersection view: the same labels and names in the data audit, evaluate's group
accuracy and the fairness audit; ambiguous labels refused."""

import pandas as pd
import pytest

from pipeline.audit import fairness
from pipeline.audit.group_accuracy import group_accuracy
from pipeline.errors import BadInputError
from pipeline.stats.groups import INTERSECTION_SEP, VIEW_SEP, intersection_name, sensitive_views


def test_each_column_and_the_intersection():
    groups = pd.DataFrame({"sex": ["F", "M", "F"], "race": ["B", "W", "W"], "other": [1, 2, 3]})
    views = sensitive_views(groups, ["sex", "race"])
    assert list(views) == ["sex", "race", "sex x race"]
    assert views["sex x race"].tolist() == ["F & B", "M & W", "F & W"]
    assert intersection_name(["sex", "race"]) == "sex" + VIEW_SEP + "race"
    assert INTERSECTION_SEP == " & "


def test_one_column_has_no_intersection_and_numbers_become_text():
    views = sensitive_views(pd.DataFrame({"age": [30, 40]}), ["age"])
    assert list(views) == ["age"] and views["age"].tolist() == ["30", "40"]


def test_three_columns():
    groups = pd.DataFrame({"a": ["1", "2"], "b": ["x", "y"], "c": ["p", "q"]})
    assert sensitive_views(groups, ["a", "b", "c"])["a x b x c"].tolist() == ["1 & x & p", "2 & y & q"]


def test_values_that_make_the_intersection_ambiguous_are_refused():
    groups = pd.DataFrame({"a": ["p & q", "p"], "b": ["r", "q & r"]})  # both would print "p & q & r"
    with pytest.raises(BadInputError, match=r"\['a', 'b'\].*ambiguous"):
        sensitive_views(groups, ["a", "b"])


def test_a_separator_inside_a_value_is_fine_when_nothing_collides():
    groups = pd.DataFrame({"a": ["p & q", "p"], "b": ["r", "s"]})
    assert sensitive_views(groups, ["a", "b"])["a x b"].tolist() == ["p & q & r", "p & s"]


def test_a_missing_column_is_refused_by_name():
    with pytest.raises(BadInputError, match=r"lacks sensitive column\(s\) \['race'\]"):
        sensitive_views(pd.DataFrame({"sex": ["F"]}), ["sex", "race"])


def test_group_accuracy_and_the_fairness_audit_name_groups_alike():
    groups = pd.DataFrame({"sex": ["F", "M", "F", "M"], "race": ["B", "W", "W", "B"]})
    y = pd.Series([1, 0, 1, 1]).to_numpy()
    accuracy = group_accuracy(y, y, groups, ["sex", "race"])
    audited = fairness.audit_decisions(y, y, None, groups, ["sex", "race"], fairness.FairnessSettings(n_boot=0))
    assert list(accuracy) == list(audited["features"])
    for view in accuracy:
        assert set(accuracy[view]) == set(audited["features"][view]["groups"])


def test_the_data_audit_uses_the_same_views():
    from pipeline.data import audit as data_audit
    from pipeline.data.table import RawTable

    table = RawTable(
        features=pd.DataFrame({"sex": ["F", "M", "F"], "race": ["B", "W", "W"]}),
        target=pd.Series(["yes", "no", "yes"]),
        classes=["no", "yes"],
        favourable="yes",
        numeric=[],
        categorical=["sex", "race"],
    )
    result = data_audit.groups(table, ["sex", "race"], min_size=1)
    assert set(result["sex x race"]) == {"F & B", "M & W", "F & W"}
