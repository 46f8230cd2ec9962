//! Parsers: turn a line of some log format into a record. Shared by the
//! server's inputs (syslog) and, with the parsing issue, by routes and the
//! agent's sources.

pub mod syslog;
