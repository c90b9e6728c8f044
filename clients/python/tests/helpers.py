"""Assertions shared by the tests."""

from __future__ import annotations

import grpc
import pytest

import sessionstore_client as ss


def expect_error(call, code: grpc.StatusCode, reason: str) -> grpc.RpcError:
    """Runs a call that must fail with this code and ErrorInfo reason; returns the error."""
    with pytest.raises(grpc.RpcError) as raised:
        call()
    err = raised.value
    info = ss.error_info(err)
    assert (err.code(), info.reason if info else None, info.domain if info else None) == (code, reason, ss.DOMAIN)
    return err
