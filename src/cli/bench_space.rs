//! Where the bytes of a data directory's indices go, per tantivy field and
//! kind of structure (term dictionary, postings, positions, columns, stored
//! documents), so a change to the store's layout is measured by the field it
//! targets rather than by the total alone.

use std::collections::BTreeMap;
use std::path::Path;

/// Bytes per `(kind, field)` over every index under `indices`, largest first.
pub fn bytes_by_field(indices: &Path) -> Vec<(String, u64)> {
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    let Ok(rd) = std::fs::read_dir(indices) else {
        return Vec::new();
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            // a folder that is not an index (or cannot be read) adds nothing
            let _ = add_index(&e.path(), &mut out);
        }
    }
    largest_first(out)
}

/// Bytes per `(kind, field)` of the index in `dir`, largest first.
pub fn index_bytes_by_field(dir: &Path) -> tantivy::Result<Vec<(String, u64)>> {
    let mut out = BTreeMap::new();
    add_index(dir, &mut out)?;
    Ok(largest_first(out))
}

fn add_index(dir: &Path, out: &mut BTreeMap<String, u64>) -> tantivy::Result<()> {
    let index = tantivy::Index::open_in_dir(dir)?;
    let usage = index.reader()?.searcher().space_usage()?;
    for seg in usage.segments() {
        for (kind, per_field) in [
            ("term", seg.termdict()),
            ("idx", seg.postings()),
            ("pos", seg.positions()),
            ("fast", seg.fast_fields()),
            ("fieldnorm", seg.fieldnorms()),
        ] {
            for f in per_field.fields() {
                let name = f.field_name().replace('\u{1}', ".");
                *out.entry(format!("{kind} {name}")).or_default() += f.total().get_bytes();
            }
        }
        *out.entry("store (all stored fields)".into()).or_default() +=
            seg.store().total().get_bytes();
    }
    Ok(())
}

fn largest_first(m: BTreeMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = m.into_iter().filter(|(_, b)| *b > 0).collect();
    v.sort_by_key(|b| std::cmp::Reverse(b.1));
    v
}
