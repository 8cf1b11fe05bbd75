"""Who a governance call is about: the caller, or (for admins only) someone else."""

from __future__ import annotations

import pytest

from llmgw.server.governance.identity import Principal
from llmgw.server.governance.roles import admin_target, target_user, validate_user_name
from llmgw.wire.errors import InvalidArgument, PermissionDenied

ALICE = Principal(user="alice", key_name="laptop", key_id=1, is_admin=False)
ROOT = Principal(user="root", key_name="ops", key_id=2, is_admin=True)


@pytest.mark.parametrize("requested", ["", "me", "alice"])
def test_a_user_acts_on_themselves(requested: str) -> None:
    assert target_user(ALICE, requested) == "alice"


def test_a_user_may_not_name_anyone_else() -> None:
    with pytest.raises(PermissionDenied):
        target_user(ALICE, "bob")


def test_an_admin_may_name_anyone_with_a_valid_name() -> None:
    assert target_user(ROOT, "bob") == "bob"
    assert target_user(ROOT, "me") == "root"
    with pytest.raises(InvalidArgument) as caught:
        target_user(ROOT, "bob smith")
    assert caught.value.field == "user"


def test_admin_target_refuses_a_non_admin_even_for_themselves() -> None:
    with pytest.raises(PermissionDenied, match="admins only"):
        admin_target(ALICE, "me")
    assert admin_target(ROOT, "bob") == "bob"
    assert admin_target(ROOT, "") == "root"


@pytest.mark.parametrize("name", ["a", "alice.smith@example.com", "x" * 255, "b+1_2-3"])
def test_valid_user_names(name: str) -> None:
    assert validate_user_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 256, "with space", "semi;colon", "ünïcode"])
def test_invalid_user_names_name_the_field(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        validate_user_name(name)
    assert caught.value.field == "user"
