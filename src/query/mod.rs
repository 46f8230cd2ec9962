//! Queries, engine-neutral: the model, and the two languages users write
//! (Elasticsearch DSL and Lucene query strings), plus date math and formats.

pub mod agg_result;
pub mod aggs;
pub mod date_format;
pub mod datemath;
pub mod es_dsl;
pub mod lucene;
pub mod model;
