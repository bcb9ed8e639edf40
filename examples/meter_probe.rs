//! Prints the verdict meter for pickles given as hex lines on stdin (old 2.7, new 3.11,
//! pickle:2): a by-hand companion of tests/cost.rs.
use cache_compat::check::{Side, judge};
use cache_compat::envelope::Writer;
use cache_compat::meter;
use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::LoadConfig;
use std::io::BufRead;

fn main() {
    let side = |rt: &str| Side {
        runtime: Runtime::parse(rt).expect("runtime"),
        load: LoadConfig::default(),
        writer: Writer::parse("pickle:2").expect("writer"),
    };
    let (old, new) = (side("2.7"), side("3.11"));
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let p: Vec<u8> = (0..line.len() / 2)
            .filter_map(|i| u8::from_str_radix(&line[2 * i..2 * i + 2], 16).ok())
            .collect();
        let t = std::time::Instant::now();
        let c = judge(&p, &old, &new);
        let u = meter::last();
        println!(
            "{} bytes: ops {} bytes {} in {:?}; new_reads {}",
            p.len(),
            u.ops,
            u.bytes,
            t.elapsed(),
            c.new_reads.name()
        );
    }
}
