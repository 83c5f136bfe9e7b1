"""API shapes of the notary (separate from its table), so OpenAPI documents every field."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

StepName = Literal["canonical", "hash", "sign", "pin", "anchor", "confirm"]
StepState = Literal["pending", "running", "retrying", "done", "failed"]


class NotarizationRequest(BaseModel):
    period_hours: float | None = Field(
        default=None, gt=0, le=24 * 366, description="Period to report on, ending now"
    )


class StepOut(BaseModel):
    name: StepName
    state: StepState
    at: str | None
    detail: str | None
    error: str | None


class NotarizationOut(BaseModel):
    id: int
    created_at: str
    updated_at: str
    trigger: Literal["schedule", "manual"]
    requested_by: str
    period_start: str
    period_end: str
    status: Literal["running", "completed", "failed"]
    step: StepName | None = Field(description="The first step not done yet")
    steps: list[StepOut]
    attempts: int
    error: str | None
    hash: str | None = Field(description="keccak256 of the canonical JSON document, 0x-hex")
    signature: str | None = Field(description="EIP-191 personal_sign of the hash, 0x-hex")
    signer: str | None
    cid: str | None
    pin_provider: Literal["pinata", "local"] | None
    pin_size: int | None
    chain: Literal["embedded", "rpc"] | None
    chain_id: str | None
    tx_hash: str | None
    block_number: int | None
    block_hash: str | None
    document_size: int | None

    def step_state(self, name: str) -> str:
        """The state of step `name` ("pending" until the pipeline records it)."""
        return next((step.state for step in self.steps if step.name == name), "pending")


class NotarizationList(BaseModel):
    items: list[NotarizationOut]
    total: int


class CheckOut(BaseModel):
    step: str
    ok: bool | None = Field(description="None: could not be checked (the detail says why)")
    detail: str


class VerificationOut(BaseModel):
    id: int
    ok: bool
    failed_step: str | None
    checks: list[CheckOut]


class NotaryInfo(BaseModel):
    enabled: bool
    signer: str | None
    chain: Literal["embedded", "rpc"] | None
    chain_target: str | None
    pin_provider: Literal["pinata", "local"]
    schedule_utc: str
    period_hours: float
    confirmations: int
