"""Avro codec: single-object encoding or Confluent framing, schemas parsed once per process."""

from engine.codec.avro import TopicCodec
from engine.codec.errors import DecodeError
from engine.codec.records import codec, decode_event, encode_event, event_from_record, event_to_record

__all__ = ["DecodeError", "TopicCodec", "codec", "decode_event", "encode_event", "event_from_record",
           "event_to_record"]
