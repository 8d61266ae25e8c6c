"""How a dead letter is shown: a bounded, escaped preview of its bytes, and the event it decodes to when it does."""

from engine.service.dead_letters import PREVIEW_BYTES, decoded, preview
from tests.integration.test_poison_batch import submission


def test_a_preview_escapes_every_byte_that_is_not_printable_ascii():
    assert preview(b"ok \x00\xff\\<") == "ok \\x00\\xff\\x5c<"
    assert preview(None) == ""
    long = preview(b"a" * (PREVIEW_BYTES + 10))
    assert long == "a" * PREVIEW_BYTES + "…"


def test_a_value_that_decodes_names_its_event_and_one_that_does_not_names_nothing():
    assert decoded(submission("e-1")) == ("ExecutionSubmitted", "e-1")
    assert decoded(b"\xc3\x01 definitely not avro") == (None, None)
    assert decoded(b"") == (None, None)
