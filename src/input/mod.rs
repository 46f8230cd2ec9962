//! Inputs: the protocols events arrive by. Each decodes its wire format into
//! records and hands them to ingest. (`_bulk` over HTTP today; the Fluentd
//! forward protocol and syslog arrive with their issues.)

pub mod bulk;
