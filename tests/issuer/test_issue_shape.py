"""Every issue the store can hold has an API (and event) shape: a state or mode the contract
cannot name would make publishing that issue fail after its transition committed."""

from __future__ import annotations

from typing import get_args

from backend.issuer.settings import IssuerSettings
from backend.issuer.states import ALL_STATES
from hashinsight_contract.issuer import IssueOut, IssueStateName


def test_the_contract_names_every_issue_state() -> None:
    assert set(get_args(IssueStateName)) == set(ALL_STATES)


def test_the_contract_names_every_issuer_mode() -> None:
    settings_modes = get_args(IssuerSettings.model_fields["issuer_mode"].annotation)
    contract_modes = get_args(IssueOut.model_fields["mode"].annotation)
    assert set(settings_modes) == set(contract_modes)
