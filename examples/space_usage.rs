//! Where the bytes of an index go, per tantivy component and field:
//! `cargo run --release --example space_usage -- DATA_DIR/indices/INDEX`.
//! `bench ingest` prints the same breakdown for its whole data directory.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: space_usage INDEX_DIR")?;
    let parts = logweave::cli::bench_space::index_bytes_by_field(std::path::Path::new(&dir))?;
    let total: u64 = parts.iter().map(|p| p.1).sum();
    println!("{:.1} MiB", total as f64 / 1048576.0);
    for (k, b) in parts {
        println!(
            "{:>8.2} MiB {:>5.1}%  {k}",
            b as f64 / 1048576.0,
            100.0 * b as f64 / total.max(1) as f64
        );
    }
    Ok(())
}
