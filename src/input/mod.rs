//! Inputs: the protocols events arrive by. Each decodes its wire format into
//! records and hands them to ingest: `_bulk` over HTTP and the Fluentd
//! forward protocol (syslog arrives with its issue).

pub mod bulk;
pub mod forward;
pub mod tls;
