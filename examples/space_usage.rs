//! Where the bytes of an index go, per tantivy component and field:
//! `cargo run --release --example space_usage -- DATA_DIR/indices/INDEX`.
//! Used to decide what to index when tuning disk use.

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: space_usage INDEX_DIR")?;
    let index = tantivy::Index::open_in_dir(&dir)?;
    index.tokenizers().register(
        logweave::store::tantivy::schema::TEXT_ANALYZER,
        logweave::store::tantivy::schema::text_analyzer(),
    );
    let searcher = index.reader()?.searcher();
    let usage = searcher.space_usage()?;
    let mut parts: BTreeMap<String, u64> = BTreeMap::new();
    for seg in usage.segments() {
        for (name, per) in [
            ("termdict", seg.termdict()),
            ("postings", seg.postings()),
            ("positions", seg.positions()),
            ("fast", seg.fast_fields()),
            ("fieldnorms", seg.fieldnorms()),
        ] {
            for f in per.fields() {
                *parts
                    .entry(format!("{name} {}", f.field_name()))
                    .or_default() += f.total().get_bytes();
            }
        }
        *parts.entry("store".into()).or_default() += seg.store().total().get_bytes();
    }
    let total: u64 = parts.values().sum();
    println!(
        "{} docs, {} segments, {:.1} MiB",
        searcher.num_docs(),
        usage.segments().len(),
        total as f64 / 1048576.0
    );
    let mut v: Vec<_> = parts.into_iter().collect();
    v.sort_by_key(|x| std::cmp::Reverse(x.1));
    for (k, b) in v {
        println!(
            "{:>8.2} MiB {:>5.1}%  {k}",
            b as f64 / 1048576.0,
            100.0 * b as f64 / total as f64
        );
    }
    Ok(())
}
