//! Byte-vector tests of the receiving state machine.
