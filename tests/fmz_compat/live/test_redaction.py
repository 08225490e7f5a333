"""Whatever a venue or ccxt puts in an error, no key, secret or passphrase reaches the robot log."""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fmz_compat.core import ExchangeBinding, MemoryLog
from fmz_compat.keys import Credentials
from fmz_compat.live import LiveExchange, build_client

secret_text = st.text(alphabet=string.ascii_letters + string.digits + "+/=-_", min_size=8, max_size=64)
noise = st.text(alphabet=string.printable, max_size=80)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, derandomize=True)
@given(key=secret_text, secret=secret_text, password=secret_text,
       parts=st.lists(noise, min_size=4, max_size=4))
def test_secrets_never_survive_redaction(key, secret, password, parts):
    # a secret spelled inside the marker itself ("signatur") is redacted there too: nothing to check
    assume(all(value not in "&signature=" for value in (key, secret, password)))
    creds = Credentials(key, secret, password)
    ex = LiveExchange(build_client("okx", creds), "okx", ExchangeBinding(eid="Futures_OKX"), MemoryLog(),
                      secrets=creds.secrets())
    message = f"{parts[0]}{key}{parts[1]}{secret}{parts[2]}{password}{parts[3]}&signature={secret[::-1]}"
    written = ex.redact(message)
    for value in creds.secrets():
        assert value not in written
    assert written.endswith("&signature=***")
