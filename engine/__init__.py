"""Kafkaban engine: the pure domain core, the Avro codec and (at the edges) the processor and surfaces."""
