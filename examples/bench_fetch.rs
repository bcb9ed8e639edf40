//! The fetch-only client of the benchmark (`bench/run.sh`): what the server can serve, with no
//! decoding. SCAN (COUNT 1000) then one pipelined GET per key, like `scan`'s fetch, and nothing
//! else: its keys/s is the ceiling `scan` is measured against.
//!
//! `cargo run --release --example bench_fetch -- redis://127.0.0.1:PORT`
//! prints `{"keys": N, "bytes": B, "secs": S}`.

fn main() -> redis::RedisResult<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let client = redis::Client::open(url.as_str())?;
    let mut con = client.get_connection()?;
    let t = std::time::Instant::now();
    let (mut cursor, mut keys, mut bytes) = (0u64, 0u64, 0u64);
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(1000)
            .query(&mut con)?;
        if !batch.is_empty() {
            let mut pipe = redis::pipe();
            for k in &batch {
                pipe.cmd("GET").arg(k);
            }
            let vals: Vec<Option<Vec<u8>>> = pipe.query(&mut con)?;
            keys += vals.len() as u64;
            bytes += vals.iter().flatten().map(|v| v.len() as u64).sum::<u64>();
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    println!(
        "{{\"keys\": {keys}, \"bytes\": {bytes}, \"secs\": {}}}",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
