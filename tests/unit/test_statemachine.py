import pytest

from slipway_contracts.entities import (
    CLUSTER_TRANSITIONS,
    DEPLOYMENT_TRANSITIONS,
    IMAGE_TRANSITIONS,
    SERVICE_TRANSITIONS,
)
from slipway_libs.statemachine import IllegalTransition, TransitionTable


@pytest.mark.parametrize(
    ("table", "current", "target"),
    [
        (IMAGE_TRANSITIONS, "building", "built"),
        (IMAGE_TRANSITIONS, "built", "failed"),
        (IMAGE_TRANSITIONS, "failed", "building"),
        (CLUSTER_TRANSITIONS, "stopped", "running"),
        (CLUSTER_TRANSITIONS, "error", "running"),
        (CLUSTER_TRANSITIONS, "stopped", "error"),  # a start that fails or overruns
        (DEPLOYMENT_TRANSITIONS, "failed", "updating"),  # fixed by a PUT or scale
        (SERVICE_TRANSITIONS, "active", "failed"),  # endpoints lost
        (DEPLOYMENT_TRANSITIONS, "updating", "failed"),
        (SERVICE_TRANSITIONS, "pending", "active"),
    ],
)
def test_the_data_model_moves_are_allowed(table, current, target):
    TransitionTable.of("entity", table).guard(current, target)


@pytest.mark.parametrize(
    ("table", "current", "target"),
    [
        (IMAGE_TRANSITIONS, "failed", "built"),
        (IMAGE_TRANSITIONS, "built", "built"),
        (CLUSTER_TRANSITIONS, "running", "running"),
        (DEPLOYMENT_TRANSITIONS, "failed", "running"),
        (DEPLOYMENT_TRANSITIONS, "running", "pending"),
        (SERVICE_TRANSITIONS, "pending", "pending"),
    ],
)
def test_an_illegal_move_raises_naming_the_current_status(table, current, target):
    with pytest.raises(IllegalTransition) as caught:
        TransitionTable.of("entity", table).guard(current, target)
    assert f"current status: {current}" in str(caught.value)
    assert caught.value.current == current
