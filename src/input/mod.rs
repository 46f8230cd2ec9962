//! Inputs: the protocols events arrive by. Each decodes its wire format into
//! records and hands them to ingest: `_bulk` over HTTP and the Fluentd
//! forward protocol and syslog.

pub mod bulk;
pub mod forward;
pub mod syslog;
pub mod tls;
